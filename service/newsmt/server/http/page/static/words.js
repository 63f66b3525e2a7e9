// What the API's names mean, in words an editor reads: quality flags, languages, figures.

const names = new Intl.DisplayNames(['en'], { type: 'language' });

export function languageName(code) {
  if (!code) return 'unknown';
  try {
    return names.of(code) || code;
  } catch {
    return code;
  }
}

/** Each QualityFlag as a short reason and its explanation (README, "When not to trust"). */
const FLAGS = {
  QUALITY_FLAG_LOW_CONFIDENCE: [
    'Low confidence',
    "the model was less sure than on 99% of its test sentences (calibrated Seq-Logprob)",
  ],
  QUALITY_FLAG_REPETITION: ['Repetition', 'the translation repeats itself, beyond the source'],
  QUALITY_FLAG_WRONG_LANGUAGE: ['Wrong language', 'the translation is mostly not in {target}'],
  QUALITY_FLAG_UNTRANSLATED: ['Not translated', 'the translation is nearly a copy of the source'],
  QUALITY_FLAG_LENGTH_RATIO: [
    'Length',
    'the translation is over three times longer or shorter than the source',
  ],
  QUALITY_FLAG_NUMBER_MISMATCH: ['Numbers', 'a number in the source is missing from the translation'],
  QUALITY_FLAG_TRUNCATED: ['Cut off', 'the translation reached its length limit and was cut there'],
  QUALITY_FLAG_SUBTITLE_TOO_LONG: [
    'Too long for the subtitle',
    'the cue does not fit two lines, even re-wrapped',
  ],
  QUALITY_FLAG_READING_SPEED: ['Reading speed', 'the cue must be read faster than 17 characters a second'],
  QUALITY_FLAG_INVALID_CHARACTERS: [
    'Invalid characters',
    'the model wrote unreadable characters, which were removed',
  ],
};

/** [reason, explanation] for a flag name; an unknown flag is said as it is named. */
export function flagWords(flag, target) {
  const words = FLAGS[flag];
  if (!words) return [flag.replace(/^QUALITY_FLAG_/, '').replaceAll('_', ' ').toLowerCase(), ''];
  return [words[0], words[1].replace('{target}', languageName(target))];
}

export function percent(x) {
  return `${Math.round(x * 100)}%`;
}

export function decimal(x, digits = 2) {
  return Number(x).toFixed(digits).replace('-', '\u2212');
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}
