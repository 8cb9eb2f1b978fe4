/**
 * The shape of a locale's strings for in-app, push, SMS and email texts (the built-in locales are in
 * actors/delivery/channels/Locales.ts). Here because a config file may add or override locales.
 */
/** The notification types that have templates (an `unfollow` notifies nobody). */
export type NotificationType = 'follow' | 'like' | 'retweet' | 'reply' | 'mention' | 'tweet';

/** One string per plural category of Intl.PluralRules for the locale; `other` is the fallback for the rest. */
export interface PluralForms {
  one?: string;
  two?: string;
  few?: string;
  many?: string;
  zero?: string;
  other: string;
}

export interface TypeStrings {
  /** Push title: short, no names ("New like"). */
  title: string;
  /**
   * The sentence that says what happened, `{actors}` being the names ("alice", "alice and bob", "alice and 3
   * others"): `one` when a single actor did it, `many` when several did (for the verb's agreement).
   */
  headline: { one: string; many: string };
}

/**
 * Every string of one locale. Placeholders are `{name}`; an HTML email escapes the values, never the strings, so
 * strings hold plain text only.
 */
export interface LocaleStrings {
  /** `{actors}` when the actors are unknown. */
  someone: string;
  /** `{actors}` for exactly two actors: `{first}`, `{second}`. */
  two: string;
  /** `{actors}` for more: `{first}` and `{n}` others, by the plural category of n. */
  others: PluralForms;
  /** A quoted tweet text: `{text}`. */
  quote: string;
  /** A headline followed by the quoted tweet: `{headline}`, `{quote}` (push body, SMS). */
  withText: string;
  /** Last line of every email: why it came, where to turn it off. */
  emailFooter: string;
  types: Record<NotificationType, TypeStrings>;
}

/** A locale given in configuration: any string left out is taken from the default locale. */
export type PartialLocaleStrings = Partial<Omit<LocaleStrings, 'types' | 'others'>> & {
  others?: PluralForms;
  types?: Partial<Record<NotificationType, Partial<TypeStrings>>>;
};
