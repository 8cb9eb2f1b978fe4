import { CHANNEL_DEFAULTS } from '../../../core/config/channels';
import type { OutboundNotification } from './Channel';
import { excerpt } from './Excerpt';
import { LOCALES, NOTIFICATION_TYPES, type LocaleStrings, type NotificationType, type PartialLocaleStrings, type PluralForms } from './Locales';

export interface PushContent {
  title: string;
  body: string;
}

export interface SmsContent {
  /** One line, at most `LIMITS.sms` characters. */
  body: string;
}

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

/** Lengths in characters (grapheme clusters): what fits a lock screen, one SMS, a tweet. */
export const LIMITS = { pushTitle: 50, pushBody: 150, pushQuote: 100, sms: 160, smsQuote: 60, emailSubject: 150, emailQuote: 280, name: 40 } as const;

export interface TemplatesOptions {
  /** The locale of a recipient whose own locale has no strings. @defaultValue 'en' */
  defaultLocale?: string;
  /** Locales added to (or overriding strings of) the built-in ones; strings left out come from the default locale. @defaultValue {} */
  locales?: Record<string, PartialLocaleStrings>;
}

const HTML_LAYOUT = `<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{subject}</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#14171a;line-height:1.4">
<p style="font-size:16px"><strong>{headline}</strong></p>
{quoteBlock}<p style="color:#657786;font-size:12px">{footer}</p>
</body></html>
`;
const HTML_QUOTE = `<blockquote style="margin:0 0 16px;padding:8px 12px;border-left:3px solid #1da1f2">{text}</blockquote>\n`;

/** Replaces each `{name}` with its value, once (a value holding braces stays as it is); unknown names are left. */
export function interpolate(template: string, vars: Readonly<Record<string, string>>, escape?: (value: string) => string): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const value = Object.hasOwn(vars, key) ? vars[key] : undefined;
    if (value === undefined) return whole;
    return escape ? escape(value) : value;
  });
}

/** Makes text safe inside HTML elements and quoted attributes: user names and tweet text go into emails. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Lower-case BCP 47 with `-` ("pt_BR" → "pt-br"), the form catalogue keys take. */
function normalizeTag(tag: string): string {
  return tag.trim().replace(/_/g, '-').toLowerCase();
}

function merge(base: LocaleStrings, over: PartialLocaleStrings | undefined): LocaleStrings {
  if (!over) return base;
  const types = { ...base.types };
  for (const t of NOTIFICATION_TYPES) {
    const o = over.types?.[t];
    if (o) types[t] = { title: o.title ?? base.types[t].title, headline: { ...base.types[t].headline, ...o.headline } };
  }
  return { ...base, ...over, others: over.others ?? base.others, types };
}

/**
 * Renders a notification for each channel in the recipient's locale: push (title + short body), SMS (one line),
 * email (subject, text and HTML). Names the actors with counts ("alice and 3 others"), quotes the tweet text cut
 * safely, and falls back to the default locale for a locale (or a string) it does not have.
 */
export class Templates {
  readonly defaultLocale: string;
  readonly #catalog = new Map<string, LocaleStrings>();
  readonly #plurals = new Map<string, Intl.PluralRules>();
  readonly #numbers = new Map<string, Intl.NumberFormat>();

  /** Merges the configured locales over the built-in ones; throws at once if the default locale has no strings. */
  constructor(options: TemplatesOptions = {}) {
    this.defaultLocale = normalizeTag(options.defaultLocale ?? CHANNEL_DEFAULTS.defaultLocale);
    const configured = new Map(Object.entries(options.locales ?? {}).map(([k, v]) => [normalizeTag(k), v]));
    const builtin = new Map(Object.entries(LOCALES).map(([k, v]) => [normalizeTag(k), v]));
    const defaultBase = builtin.get(this.defaultLocale) ?? builtin.get('en')!;
    if (!builtin.has(this.defaultLocale) && !configured.has(this.defaultLocale)) {
      throw new Error(`default locale '${this.defaultLocale}' has no strings (known: ${[...builtin.keys(), ...configured.keys()].join(', ')})`);
    }
    const fallback = merge(defaultBase, configured.get(this.defaultLocale));
    for (const tag of new Set([...builtin.keys(), ...configured.keys()])) {
      Intl.getCanonicalLocales(tag); // throws RangeError on a malformed tag
      this.#catalog.set(tag, tag === this.defaultLocale ? fallback : merge(merge(fallback, builtin.get(tag)), configured.get(tag)));
    }
  }

  /** The locales with strings, for docs and checks. */
  locales(): string[] {
    return [...this.#catalog.keys()];
  }

  /** The catalogue locale for a recipient's: "fr-CA" → "fr-ca" if there are strings for it, else "fr", else the default. */
  resolveLocale(locale: string | undefined): string {
    if (!locale) return this.defaultLocale;
    const tag = normalizeTag(locale);
    if (this.#catalog.has(tag)) return tag;
    const language = tag.split('-')[0];
    return this.#catalog.has(language) ? language : this.defaultLocale;
  }

  /** Whether a notification type has templates; a sender skips (dead-letters) the others. */
  supports(type: string): type is NotificationType {
    return (NOTIFICATION_TYPES as readonly string[]).includes(type);
  }

  /** A push: a short title without names, and the headline with the start of the tweet. */
  push(n: OutboundNotification, locale: string | undefined): PushContent {
    const { strings, headline } = this.#headline(n, locale);
    const title = excerpt(strings.types[n.type as NotificationType].title, LIMITS.pushTitle);
    return { title, body: excerpt(this.#withText(strings, headline, n.text, LIMITS.pushQuote), LIMITS.pushBody) };
  }

  /** An SMS: one line, short enough for a single message. */
  sms(n: OutboundNotification, locale: string | undefined): SmsContent {
    const { strings, headline } = this.#headline(n, locale);
    return { body: excerpt(this.#withText(strings, headline, n.text, LIMITS.smsQuote), LIMITS.sms) };
  }

  /** An email: the headline as subject; text and HTML bodies with the tweet quoted and a footer (HTML-escaped values). */
  email(n: OutboundNotification, locale: string | undefined): EmailContent {
    const { strings, headline, tag } = this.#headline(n, locale);
    const subject = excerpt(headline, LIMITS.emailSubject);
    const text = n.text ? excerpt(n.text, LIMITS.emailQuote) : '';
    const quote = text ? interpolate(strings.quote, { text }) : '';
    const plain = [headline, ...(quote ? ['', quote] : []), '', '--', strings.emailFooter, ''].join('\n');
    const quoteBlock = text ? interpolate(HTML_QUOTE, { text }, escapeHtml) : '';
    // One pass, values escaped first: a name or a tweet holding "{quoteBlock}" stays text.
    const values = { lang: tag, subject, headline, footer: strings.emailFooter };
    const escaped = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, escapeHtml(v)]));
    const html = interpolate(HTML_LAYOUT, { ...escaped, quoteBlock });
    return { subject, text: plain, html };
  }

  #strings(locale: string | undefined): { tag: string; strings: LocaleStrings } {
    const tag = this.resolveLocale(locale);
    return { tag, strings: this.#catalog.get(tag)! };
  }

  #headline(n: OutboundNotification, locale: string | undefined): { tag: string; strings: LocaleStrings; headline: string } {
    if (!this.supports(n.type)) throw new TypeError(`no templates for notification type '${n.type}'`);
    const { tag, strings } = this.#strings(locale);
    const { actors, many } = this.#actors(n, tag, strings);
    const forms = strings.types[n.type].headline;
    return { tag, strings, headline: interpolate(many ? forms.many : forms.one, { actors }) };
  }

  /** "alice", "alice and bob", "alice and 3 others": `count` is everyone, `actors` may list only the first few. */
  #actors(n: OutboundNotification, tag: string, strings: LocaleStrings): { actors: string; many: boolean } {
    const names = n.actors.map((a) => excerpt(a, LIMITS.name)).filter((a) => a.length > 0);
    const total = Math.max(Number.isFinite(n.count) ? Math.floor(n.count!) : 0, names.length, 1);
    const first = names[0] ?? strings.someone;
    if (total === 1) return { actors: first, many: false };
    if (total === 2 && names.length >= 2) return { actors: interpolate(strings.two, { first, second: names[1] }), many: true };
    const others = total - 1;
    const form = this.#plural(tag, strings.others, others);
    return { actors: interpolate(form, { first, n: this.#number(tag, others) }), many: true };
  }

  #withText(strings: LocaleStrings, headline: string, text: string | undefined, max: number): string {
    const cut = text ? excerpt(text, max) : '';
    if (!cut) return headline;
    return interpolate(strings.withText, { headline, quote: interpolate(strings.quote, { text: cut }) });
  }

  #plural(tag: string, forms: PluralForms, n: number): string {
    let rules = this.#plurals.get(tag);
    if (!rules) this.#plurals.set(tag, (rules = new Intl.PluralRules(tag)));
    return forms[rules.select(n)] ?? forms.other;
  }

  #number(tag: string, n: number): string {
    let format = this.#numbers.get(tag);
    if (!format) this.#numbers.set(tag, (format = new Intl.NumberFormat(tag)));
    return format.format(n);
  }
}
