import type { LocaleStrings, NotificationType } from '../../../core/LocaleStrings';

export type { LocaleStrings, NotificationType, PartialLocaleStrings, PluralForms, TypeStrings } from '../../../core/LocaleStrings';

export const NOTIFICATION_TYPES: readonly NotificationType[] = ['follow', 'like', 'retweet', 'reply', 'mention', 'tweet'];

const en: LocaleStrings = {
  someone: 'Someone',
  two: '{first} and {second}',
  others: { one: '{first} and {n} other', other: '{first} and {n} others' },
  quote: '“{text}”',
  withText: '{headline}: {quote}',
  emailFooter: 'You get this email because email notifications are on for your account. You can turn them off in your notification settings.',
  types: {
    follow: { title: 'New follower', headline: { one: '{actors} followed you', many: '{actors} followed you' } },
    like: { title: 'New like', headline: { one: '{actors} liked your tweet', many: '{actors} liked your tweet' } },
    retweet: { title: 'New retweet', headline: { one: '{actors} retweeted your tweet', many: '{actors} retweeted your tweet' } },
    reply: { title: 'New reply', headline: { one: '{actors} replied to your tweet', many: '{actors} replied to your tweet' } },
    mention: { title: 'New mention', headline: { one: '{actors} mentioned you', many: '{actors} mentioned you' } },
    tweet: { title: 'New tweet', headline: { one: '{actors} tweeted', many: '{actors} tweeted' } },
  },
};

const fr: LocaleStrings = {
  someone: 'Quelqu’un',
  two: '{first} et {second}',
  others: { one: '{first} et {n} autre', other: '{first} et {n} autres' },
  quote: '« {text} »',
  withText: '{headline} : {quote}',
  emailFooter:
    'Vous recevez cet e-mail car les notifications par e-mail sont activées sur votre compte. Vous pouvez les désactiver dans vos paramètres de notification.',
  types: {
    follow: { title: 'Nouvel abonnement', headline: { one: '{actors} vous suit', many: '{actors} vous suivent' } },
    like: { title: 'Nouveau j’aime', headline: { one: '{actors} a aimé votre tweet', many: '{actors} ont aimé votre tweet' } },
    retweet: { title: 'Nouveau retweet', headline: { one: '{actors} a retweeté votre tweet', many: '{actors} ont retweeté votre tweet' } },
    reply: { title: 'Nouvelle réponse', headline: { one: '{actors} a répondu à votre tweet', many: '{actors} ont répondu à votre tweet' } },
    mention: { title: 'Nouvelle mention', headline: { one: '{actors} vous a mentionné', many: '{actors} vous ont mentionné' } },
    tweet: { title: 'Nouveau tweet', headline: { one: '{actors} a publié un tweet', many: '{actors} ont publié un tweet' } },
  },
};

const es: LocaleStrings = {
  someone: 'Alguien',
  two: '{first} y {second}',
  others: { one: '{first} y {n} persona más', other: '{first} y {n} personas más' },
  quote: '«{text}»',
  withText: '{headline}: {quote}',
  emailFooter: 'Recibes este correo porque tienes activadas las notificaciones por correo. Puedes desactivarlas en tu configuración de notificaciones.',
  types: {
    follow: { title: 'Nuevo seguidor', headline: { one: '{actors} te siguió', many: '{actors} te siguieron' } },
    like: { title: 'Nuevo me gusta', headline: { one: 'A {actors} le gustó tu tweet', many: 'A {actors} les gustó tu tweet' } },
    retweet: { title: 'Nuevo retweet', headline: { one: '{actors} retuiteó tu tweet', many: '{actors} retuitearon tu tweet' } },
    reply: { title: 'Nueva respuesta', headline: { one: '{actors} respondió a tu tweet', many: '{actors} respondieron a tu tweet' } },
    mention: { title: 'Nueva mención', headline: { one: '{actors} te mencionó', many: '{actors} te mencionaron' } },
    tweet: { title: 'Nuevo tweet', headline: { one: '{actors} publicó un tweet', many: '{actors} publicaron un tweet' } },
  },
};

/** The built-in locales, keyed by lower-case BCP 47 tag (a language, or language-region for a variant). */
export const LOCALES: Readonly<Record<string, LocaleStrings>> = { en, fr, es };
