const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The start of a tweet's text for a push, an SMS or an email: whitespace runs (newlines too) become one space, and
 * a text longer than `max` characters is cut to `max - 1` plus "…". Characters are grapheme clusters, so the cut
 * never splits a surrogate pair, an emoji sequence (👩‍👩‍👧, flags, skin tones) or a letter from its accent.
 * It prefers to cut at a word boundary when one is near the end.
 */
export function excerpt(text: string, max: number): string {
  const flat = text.replace(/\s+/gu, ' ').trim();
  if (max <= 0) return '';
  // Cheap exit: a string has at least as many UTF-16 units as graphemes.
  if (flat.length <= max) return flat;
  const parts: string[] = [];
  for (const { segment } of graphemes.segment(flat)) {
    parts.push(segment);
    if (parts.length > max) break;
  }
  if (parts.length <= max) return flat;
  let kept = parts.slice(0, max - 1);
  // Cut mid-word: back off to the last space if that loses little.
  const lastSpace = kept.lastIndexOf(' ');
  if (parts[max - 1] !== ' ' && lastSpace >= Math.floor(kept.length * 0.7)) kept = kept.slice(0, lastSpace);
  return `${kept.join('').trimEnd()}…`;
}

/** Length in characters as a person counts them (grapheme clusters), the unit of `excerpt`'s `max`. */
export function graphemeLength(text: string): number {
  let n = 0;
  for (const _ of graphemes.segment(text)) n++;
  return n;
}
