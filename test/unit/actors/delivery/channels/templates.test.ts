import { describe, expect, it } from 'vitest';
import { excerpt, graphemeLength } from '../../../../../actors/delivery/channels/Excerpt';
import { LOCALES, NOTIFICATION_TYPES } from '../../../../../actors/delivery/channels/Locales';
import { LIMITS, Templates, escapeHtml, interpolate } from '../../../../../actors/delivery/channels/Templates';
import { notification } from './fixtures';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const t = new Templates();

describe('Templates', () => {
  it('renders every type × channel × locale, within limits, with no placeholder left', () => {
    expect(t.locales()).toEqual(expect.arrayContaining(['en', 'es', 'fr']));
    for (const locale of t.locales()) {
      for (const type of NOTIFICATION_TYPES) {
        for (const actors of [['alice'], ['alice', 'bob'], ['alice', 'bob', 'carol']]) {
          for (const text of [undefined, 'a tweet with an emoji 🎉 '.repeat(20)]) {
            const n = notification({ type, actors, text });
            const push = t.push(n, locale);
            const sms = t.sms(n, locale);
            const email = t.email(n, locale);
            const all = [push.title, push.body, sms.body, email.subject, email.text, email.html];
            for (const s of all) {
              expect(s.length).toBeGreaterThan(0);
              expect(s).not.toMatch(/\{\w+\}/);
              expect(s).not.toMatch(LONE_SURROGATE);
            }
            expect(push.body).toContain('alice');
            expect(graphemeLength(push.title)).toBeLessThanOrEqual(LIMITS.pushTitle);
            expect(graphemeLength(push.body)).toBeLessThanOrEqual(LIMITS.pushBody);
            expect(graphemeLength(sms.body)).toBeLessThanOrEqual(LIMITS.sms);
            expect(sms.body).not.toMatch(/[\r\n]/);
            expect(email.subject).not.toMatch(/[\r\n]/);
            expect(email.text).toContain(email.subject);
            expect(email.html).toContain(`lang="${locale}"`);
            if (text) expect(email.text).toContain('🎉');
          }
        }
      }
    }
  });

  it('each locale has its own wording (no English leaking into fr/es)', () => {
    const n = notification({ type: 'follow', actors: ['alice'], text: undefined });
    expect(t.push(n, 'en')).toEqual({ title: 'New follower', body: 'alice followed you' });
    expect(t.push(n, 'fr')).toEqual({ title: 'Nouvel abonnement', body: 'alice vous suit' });
    expect(t.push(n, 'es')).toEqual({ title: 'Nuevo seguidor', body: 'alice te siguió' });
    for (const type of NOTIFICATION_TYPES) {
      expect(LOCALES.fr.types[type].headline.one).not.toBe(LOCALES.en.types[type].headline.one);
      expect(LOCALES.es.types[type].headline.one).not.toBe(LOCALES.en.types[type].headline.one);
    }
  });

  it('phrases counts: one actor, two, one other, many others, in each locale', () => {
    const like = (actors: string[], count?: number) => notification({ type: 'like', actors, text: undefined, ...(count === undefined ? {} : { count }) });
    expect(t.sms(like(['alice']), 'en').body).toBe('alice liked your tweet');
    expect(t.sms(like(['alice', 'bob']), 'en').body).toBe('alice and bob liked your tweet');
    expect(t.sms(like(['alice', 'bob'], 2), 'en').body).toBe('alice and bob liked your tweet');
    expect(t.sms(like(['alice'], 2), 'en').body).toBe('alice and 1 other liked your tweet');
    expect(t.sms(like(['alice', 'bob', 'carol'], 4), 'en').body).toBe('alice and 3 others liked your tweet');
    expect(t.sms(like(['alice', 'bob', 'carol']), 'en').body).toBe('alice and 2 others liked your tweet');
    expect(t.sms(like(['alice'], 1234), 'en').body).toBe('alice and 1,233 others liked your tweet');
    expect(t.sms(like([], 3), 'en').body).toBe('Someone and 2 others liked your tweet');
    expect(t.sms(like([]), 'en').body).toBe('Someone liked your tweet');

    expect(t.sms(like(['alice']), 'fr').body).toBe('alice a aimé votre tweet');
    expect(t.sms(like(['alice'], 2), 'fr').body).toBe('alice et 1 autre ont aimé votre tweet');
    expect(t.sms(like(['alice', 'bob', 'carol'], 4), 'fr').body).toBe('alice et 3 autres ont aimé votre tweet');
    expect(t.sms(like(['alice'], 1234), 'fr').body).toMatch(/^alice et 1\s233 autres ont aimé votre tweet$/u);
    expect(t.sms(like(['alice'], 1_000_001), 'fr').body).toMatch(/^alice et 1\s000\s000 autres ont aimé/u);

    expect(t.sms(like(['alice']), 'es').body).toBe('A alice le gustó tu tweet');
    expect(t.sms(like(['alice'], 2), 'es').body).toBe('A alice y 1 persona más les gustó tu tweet');
    expect(t.sms(like(['alice', 'bob', 'carol'], 4), 'es').body).toBe('A alice y 3 personas más les gustó tu tweet');
    expect(t.sms(notification({ type: 'retweet', actors: ['alice', 'bob'], text: undefined }), 'es').body).toBe('alice y bob retuitearon tu tweet');
  });

  it('falls back: region to language, unknown locale to the default, missing strings to the default locale', () => {
    const n = notification({ type: 'mention', actors: ['alice'], text: undefined });
    expect(t.resolveLocale('fr-CA')).toBe('fr');
    expect(t.resolveLocale('ES_mx')).toBe('es');
    expect(t.resolveLocale('de-DE')).toBe('en');
    expect(t.resolveLocale('')).toBe('en');
    expect(t.resolveLocale(undefined)).toBe('en');
    expect(t.sms(n, 'de').body).toBe('alice mentioned you');
    expect(t.sms(n, 'fr-BE').body).toBe('alice vous a mentionné');

    const french = new Templates({ defaultLocale: 'fr' });
    expect(french.sms(n, 'de').body).toBe('alice vous a mentionné');
    expect(french.sms(n, 'en-GB').body).toBe('alice mentioned you');

    const withDe = new Templates({
      locales: {
        de: {
          two: '{first} und {second}',
          types: { like: { title: 'Neues Like', headline: { one: '{actors} gefällt dein Tweet', many: '{actors} gefällt dein Tweet' } } },
        },
      },
    });
    expect(withDe.locales()).toContain('de');
    expect(withDe.push(notification({ type: 'like', actors: ['alice', 'bob'], text: undefined }), 'de-AT')).toEqual({
      title: 'Neues Like',
      body: 'alice und bob gefällt dein Tweet',
    });
    // Strings the German catalogue leaves out come from the default locale.
    expect(withDe.sms(n, 'de').body).toBe('alice mentioned you');
    expect(withDe.email(n, 'de').text).toContain(LOCALES.en.emailFooter);
  });

  it('refuses a default locale without strings or a malformed locale tag, at construction', () => {
    expect(() => new Templates({ defaultLocale: 'xx' })).toThrow(/default locale 'xx'/);
    expect(() => new Templates({ locales: { 'en-': {} } })).toThrow(RangeError);
    expect(new Templates({ defaultLocale: 'pt', locales: { pt: { types: { like: { title: 'Nova curtida' } } } } }).push(notification(), 'de').title).toBe(
      'Nova curtida',
    );
  });

  it('refuses a type it has no templates for', () => {
    expect(t.supports('like')).toBe(true);
    expect(t.supports('unfollow')).toBe(false);
    expect(() => t.sms(notification({ type: 'unfollow' }), 'en')).toThrow(TypeError);
  });

  it('quotes the tweet in each locale style', () => {
    const n = notification({ type: 'reply', actors: ['alice'], text: 'hello\n\nworld' });
    expect(t.push(n, 'en').body).toBe('alice replied to your tweet: “hello world”');
    expect(t.push(n, 'fr').body).toBe('alice a répondu à votre tweet : « hello world »');
    expect(t.push(n, 'es').body).toBe('alice respondió a tu tweet: «hello world»');
  });

  it('escapes names and tweet text in the HTML email only; braces in them stay text', () => {
    const n = notification({ type: 'mention', actors: ['<img src=x onerror=alert(1)>'], text: 'Tom & "Jerry" {headline} {quoteBlock}' });
    const { subject, text, html } = t.email(n, 'en');
    expect(subject).toBe('<img src=x onerror=alert(1)> mentioned you');
    expect(text).toContain('“Tom & "Jerry" {headline} {quoteBlock}”');
    expect(html).not.toContain('<img');
    expect(html).toContain('&#60;img src=x onerror=alert(1)&#62; mentioned you');
    expect(html).toContain('Tom &#38; &#34;Jerry&#34; {headline} {quoteBlock}');
    expect(html.match(/<blockquote/g)).toHaveLength(1);
    const sneaky = t.email(notification({ actors: ['{quoteBlock}'], text: 'x' }), 'en').html;
    expect(sneaky.match(/<blockquote/g)).toHaveLength(1);
    expect(sneaky).toContain('<strong>{quoteBlock} liked your tweet</strong>');
  });
});

describe('excerpt', () => {
  it('cuts emoji text without splitting a surrogate pair or an emoji sequence', () => {
    const family = '👩‍👩‍👧‍👦';
    const flag = '🇫🇷';
    const thumbs = '👍🏽';
    for (const unit of ['😀', family, flag, thumbs, 'é', 'e\u0301']) {
      const text = unit.repeat(80);
      for (const max of [1, 2, 7, 10, 33, 60]) {
        const cut = excerpt(text, max);
        expect(cut).not.toMatch(LONE_SURROGATE);
        expect(graphemeLength(cut)).toBeLessThanOrEqual(max);
        expect(cut.endsWith('…')).toBe(true);
        const kept = cut.slice(0, -1);
        expect(kept).toBe(unit.repeat(graphemeLength(kept)));
      }
    }
  });

  it('keeps short text whole, flattens whitespace, prefers a word boundary', () => {
    expect(excerpt('  hello \n\t world  ', 20)).toBe('hello world');
    expect(excerpt('exactly ten', 11)).toBe('exactly ten');
    expect(excerpt('the quick brown fox jumps over the lazy dog', 20)).toBe('the quick brown fox…');
    expect(excerpt('abcdefghijklmnopqrstuvwxyz', 10)).toBe('abcdefghi…');
    expect(excerpt('anything', 0)).toBe('');
  });

  it('a push of a tweet full of emoji stays whole-emoji', () => {
    const n = notification({ text: '🚀🔥'.repeat(200) });
    for (const s of [t.push(n, 'en').body, t.sms(n, 'fr').body, t.email(n, 'es').text]) expect(s).not.toMatch(LONE_SURROGATE);
    const sms = t.sms(notification({ text: '👩‍👩‍👧‍👦'.repeat(200) }), 'en').body;
    expect(sms).toMatch(/^alice liked your tweet: “(👩‍👩‍👧‍👦)+…”?/u);
  });
});

describe('interpolate', () => {
  it('replaces known names once, leaves unknown ones, escapes values on request', () => {
    expect(interpolate('{a} and {b} and {a}', { a: '1' })).toBe('1 and {b} and 1');
    expect(interpolate('{a}', { a: '{a}' })).toBe('{a}');
    expect(interpolate('<p>{a}</p>', { a: '<i>' }, escapeHtml)).toBe('<p>&#60;i&#62;</p>');
    expect(interpolate('{toString}', {})).toBe('{toString}');
  });
});
