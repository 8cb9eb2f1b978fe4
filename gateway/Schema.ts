import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { HeraldEvent } from '../core/Event';
import { HeraldError } from '../core/HeraldError';

/**
 * Schemas of everything a client may send (docs/protocol.md), checked before anything touches a node.
 * TypeBox gives the TypeScript types and compiled validators from one definition.
 */
export const UserIdSchema = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });
// Ids become part of LevelDB keys (UTF-8): a lone surrogate would turn into U+FFFD there and two ids would collide.
const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^(?:[^\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])*$' });
const Offset = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const TweetSchema = Type.Object(
  {
    id: Id,
    author: UserIdSchema,
    text: Type.Optional(Type.String({ maxLength: 4000 })),
    entities: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 50 })),
    mentions: Type.Optional(Type.Array(UserIdSchema, { maxItems: 50 })),
  },
  { additionalProperties: false },
);

export const EventSchema = Type.Object(
  {
    id: Id,
    type: Type.Union(['follow', 'unfollow', 'tweet', 'like', 'retweet', 'reply', 'mention'].map((t) => Type.Literal(t))),
    actor: UserIdSchema,
    target: Type.Optional(UserIdSchema),
    tweet: Type.Optional(TweetSchema),
    ts: Type.Optional(Type.Integer({ minimum: 0, maximum: 8.64e15 })),
  },
  { additionalProperties: false },
);

const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$' });
/** A part a settings update may set, or remove with null (JSON Merge Patch, RFC 7396). */
const Removable = <T extends TSchema>(part: T) => Type.Optional(Type.Union([part, Type.Null()]));
/**
 * A settings update (core/OutboundDelivery.ts `SettingsPatch`): a JSON Merge Patch of the user's settings. A member
 * left out is unchanged, `null` removes it (quiet hours, a device list, an address, a channel preference).
 */
export const SettingsPatchSchema = Type.Object(
  {
    tz: Removable(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_+/-]+$' })),
    locale: Removable(Type.String({ pattern: '^[a-z]{2}(-[A-Z]{2})?$' })),
    devices: Removable(
      Type.Object(
        {
          push: Removable(Type.Array(Type.String({ minLength: 1, maxLength: 512, pattern: '^[\\x21-\\x7e]+$' }), { maxItems: 10 })),
          sms: Removable(Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$' })),
          email: Removable(Type.String({ maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$' })),
        },
        { additionalProperties: false },
      ),
    ),
    channels: Removable(
      Type.Object(
        Object.fromEntries(
          ['follow', 'like', 'retweet', 'reply', 'mention', 'tweet'].map((t) => [
            t,
            Removable(
              Type.Object(
                { push: Removable(Type.Boolean()), sms: Removable(Type.Boolean()), email: Removable(Type.Boolean()) },
                { additionalProperties: false },
              ),
            ),
          ]),
        ),
        { additionalProperties: false },
      ),
    ),
    quietHours: Removable(Type.Object({ start: HHMM, end: HHMM }, { additionalProperties: false })),
    // Written by herald (dead push tokens); a user may only clear it.
    pruned: Type.Optional(Type.Null()),
  },
  { additionalProperties: false },
);

/** The compiled check of a settings update, for the HTTP route. */
export const settingsPatchValidator = () => validator(SettingsPatchSchema);

/** The time zone must be one the runtime knows (IANA), or quiet hours could not be computed. */
export function checkTimeZone(tz: string | null | undefined): void {
  if (tz === undefined || tz === null) return;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    throw new HeraldError('HERALD_INVALID_MESSAGE', `unknown time zone ${tz}`);
  }
}

const Events = (max: number) => Type.Array(EventSchema, { minItems: 1, maxItems: max });

export const clientSchemas = (maxEvents: number) => ({
  publish: Type.Object({ op: Type.Literal('publish'), id: Id, events: Events(maxEvents) }, { additionalProperties: false }),
  subscribe: Type.Object(
    { op: Type.Literal('subscribe'), id: Type.Optional(Id), since: Type.Optional(Offset), epoch: Type.Optional(Type.String({ maxLength: 64 })) },
    { additionalProperties: false },
  ),
  timeline: Type.Object(
    { op: Type.Literal('timeline'), id: Id, before: Type.Optional(Offset), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) },
    { additionalProperties: false },
  ),
  read: Type.Object({ op: Type.Literal('read'), id: Id, upTo: Offset }, { additionalProperties: false }),
  settings: Type.Object({ op: Type.Literal('settings'), id: Id, settings: Type.Optional(SettingsPatchSchema) }, { additionalProperties: false }),
  /** An application-level ping: browsers cannot see WebSocket pings, so clients use this to detect a dead link. */
  ping: Type.Object({ op: Type.Literal('ping'), id: Id }, { additionalProperties: false }),
});

export const httpPublishSchema = (maxEvents: number) => Type.Object({ events: Events(maxEvents) }, { additionalProperties: false });

export type ClientMessage = {
  [K in keyof ReturnType<typeof clientSchemas>]: Static<ReturnType<typeof clientSchemas>[K]>;
}[keyof ReturnType<typeof clientSchemas>];

/** Removes, in place, the nil members that mean "absent"; built once per schema. */
type NilStrip = (value: unknown) => void;

const acceptsNull = (s: TSchema): boolean => s.type === 'null' || (Array.isArray(s.anyOf) && s.anyOf.some(acceptsNull));

/**
 * msgpack encoders write an undefined member as nil where JSON leaves it out: so that both encodings take the same
 * shapes, a null optional member is absent. A member whose schema takes null (a settings merge patch) keeps it.
 * Walks only the object and array members of the schema, and writes only when it finds a null (no copy).
 */
function nilStrip(schema: TSchema): NilStrip | undefined {
  if (schema.type === 'object' && schema.properties) {
    const props = schema.properties as Record<string, TSchema>;
    const required = new Set<string>(schema.required ?? []);
    const optional = Object.keys(props).filter((k) => !required.has(k) && !acceptsNull(props[k]));
    const nested = Object.keys(props).flatMap((k) => {
      const strip = nilStrip(props[k]);
      return strip ? [[k, strip] as const] : [];
    });
    return (value) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
      const v = value as Record<string, unknown>;
      for (const k of optional) if (v[k] === null) delete v[k];
      for (const [k, strip] of nested) if (v[k] != null) strip(v[k]);
    };
  }
  if (schema.type === 'array' && schema.items) {
    const strip = nilStrip(schema.items as TSchema);
    return strip && ((value) => Array.isArray(value) && value.forEach(strip));
  }
  if (Array.isArray(schema.anyOf)) {
    const strips = (schema.anyOf as TSchema[]).map(nilStrip).filter((s): s is NilStrip => s !== undefined);
    return strips.length ? (value) => strips.forEach((strip) => strip(value)) : undefined;
  }
  return undefined;
}

/** A compiled check that throws HERALD_INVALID_MESSAGE naming the first offending field; a nil optional member is absent. */
export function validator<T extends TSchema>(schema: T): (value: unknown) => Static<T> {
  const check = TypeCompiler.Compile(schema);
  const strip = nilStrip(schema);
  return (value) => {
    strip?.(value);
    if (check.Check(value)) return value;
    const first = check.Errors(value).First();
    const where = first?.path ? first.path : '(message)';
    throw new HeraldError('HERALD_INVALID_MESSAGE', `${where}: ${first?.message ?? 'invalid'}`);
  };
}

/**
 * What a schema cannot say: each event type's required fields and consistency. Returns the event with `target`
 * filled from the tweet's author and `ts` stamped, so every owner applies the same thing.
 */
export function normalizeEvent(e: HeraldEvent, now: number): HeraldEvent {
  // Field by field, not a spread: copying a decoded object with a spread showed in the gateway's profile.
  // Absent fields stay undefined here; both wire formats leave them out.
  const out: HeraldEvent = { id: e.id, type: e.type, actor: e.actor, target: e.target, tweet: e.tweet, ts: e.ts ?? now };
  switch (e.type) {
    case 'follow':
    case 'unfollow':
      if (!e.target) throw invalidEvent(e, `${e.type} needs target`);
      if (e.target === e.actor) throw invalidEvent(e, `cannot ${e.type} oneself`);
      break;
    case 'like':
    case 'retweet':
    case 'reply':
      if (!e.tweet) throw invalidEvent(e, `${e.type} needs tweet`);
      if (e.target && e.target !== e.tweet.author) throw invalidEvent(e, 'target must be the tweet author');
      out.target = e.tweet.author;
      break;
    case 'mention':
      if (!e.tweet?.mentions?.length) throw invalidEvent(e, 'mention needs tweet.mentions');
      break;
    case 'tweet':
      if (!e.tweet) throw invalidEvent(e, 'tweet needs tweet');
      if (e.tweet.author !== e.actor) throw invalidEvent(e, 'tweet.author must be the actor');
      break;
  }
  return out;
}

function invalidEvent(e: HeraldEvent, why: string): HeraldError {
  return new HeraldError('HERALD_INVALID_EVENT', `event ${e.id}: ${why}`);
}
