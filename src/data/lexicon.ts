/**
 * The small closed vocabulary of the task suite: topics with their adjectives and verbs, and the
 * phrase lists the sentence grammar draws from. The topic-line quality function uses the same
 * lists to judge whether a line is "sensible" (made of words the task language knows).
 *
 * Kept small on purpose: the tiny model has a byte-level BPE of a few hundred tokens and learns
 * this language from scratch on data/tasks/corpus.txt.
 */

export interface Topic {
  /** The noun, as it appears in prompts ("Write a line about the sea.") */
  name: string;
  /** Adjectives that fit it. */
  adjectives: string[];
  /** Intransitive verbs, third person singular ("the sea sings"). */
  verbs: string[];
}

export const TOPICS: readonly Topic[] = [
  { name: 'sea', adjectives: ['calm', 'blue', 'deep', 'wild'], verbs: ['sings', 'rolls', 'shines', 'sleeps'] },
  { name: 'moon', adjectives: ['pale', 'round', 'silver', 'bright'], verbs: ['glows', 'rises', 'shines', 'hides'] },
  { name: 'forest', adjectives: ['green', 'dark', 'quiet', 'old'], verbs: ['whispers', 'sleeps', 'grows', 'waits'] },
  { name: 'rain', adjectives: ['soft', 'cold', 'gentle', 'grey'], verbs: ['falls', 'sings', 'drips', 'stops'] },
  { name: 'river', adjectives: ['wide', 'cold', 'clear', 'slow'], verbs: ['flows', 'bends', 'sings', 'shines'] },
  { name: 'mountain', adjectives: ['tall', 'cold', 'old', 'grey'], verbs: ['stands', 'waits', 'sleeps', 'rises'] },
  { name: 'garden', adjectives: ['green', 'small', 'quiet', 'bright'], verbs: ['grows', 'blooms', 'waits', 'sleeps'] },
  { name: 'snow', adjectives: ['white', 'soft', 'cold', 'deep'], verbs: ['falls', 'melts', 'shines', 'drifts'] },
  { name: 'wind', adjectives: ['cold', 'wild', 'soft', 'strong'], verbs: ['blows', 'sings', 'howls', 'turns'] },
  { name: 'sun', adjectives: ['warm', 'bright', 'golden', 'red'], verbs: ['shines', 'rises', 'sets', 'burns'] },
  { name: 'night', adjectives: ['dark', 'long', 'quiet', 'deep'], verbs: ['falls', 'waits', 'ends', 'comes'] },
  { name: 'city', adjectives: ['busy', 'loud', 'bright', 'old'], verbs: ['wakes', 'sleeps', 'hums', 'shines'] },
  { name: 'road', adjectives: ['long', 'narrow', 'dusty', 'old'], verbs: ['bends', 'turns', 'climbs', 'waits'] },
  { name: 'bird', adjectives: ['small', 'bright', 'quick', 'little'], verbs: ['sings', 'flies', 'sleeps', 'calls'] },
  { name: 'fire', adjectives: ['warm', 'bright', 'red', 'small'], verbs: ['burns', 'glows', 'crackles', 'dies'] },
  { name: 'winter', adjectives: ['cold', 'long', 'white', 'dark'], verbs: ['comes', 'ends', 'waits', 'sleeps'] },
];

export const ADVERBS = ['softly', 'slowly', 'gently', 'quietly', 'again', 'today', 'tonight', 'always'];
export const TIMES = ['at night', 'at dawn', 'at noon', 'in the morning', 'in the evening', 'all day'];
export const FEELINGS = ['love', 'watch', 'hear', 'remember', 'miss', 'see'];

/** Words that glue the grammar's sentences together (also used by the corpus' extra text). */
export const FUNCTION_WORDS = [
  'the', 'a', 'an', 'is', 'and', 'i', 'at', 'in', 'all', 'of', 'to', 'it', 'look', 'here', 'there',
  'was', 'are', 'we', 'you', 'my', 'this', 'that', 'with', 'under', 'over', 'by', 'on', 'for', 'so',
];

/** Every word the task language uses for topic lines (lower case). */
export function knownWords(): Set<string> {
  const s = new Set<string>(FUNCTION_WORDS);
  for (const t of TOPICS) {
    s.add(t.name);
    t.adjectives.forEach((w) => s.add(w));
    t.verbs.forEach((w) => s.add(w));
  }
  ADVERBS.forEach((w) => s.add(w));
  for (const p of [...TIMES, ...FEELINGS]) p.split(' ').forEach((w) => s.add(w));
  return s;
}

export function topicByName(name: string): Topic | undefined {
  return TOPICS.find((t) => t.name === name);
}

/** "a" or "an" before a word (only vowel-initial words in this lexicon matter). */
export function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
