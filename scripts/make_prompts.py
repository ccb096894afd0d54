#!/usr/bin/env python3
"""Generate switchboard's default prompts: 8 kHz mono 16-bit WAV in English, Ukrainian, Russian.

    python scripts/make_prompts.py             # (re)generate switchboard/prompts/ + manifest
    python scripts/make_prompts.py --check     # verify the committed files against the manifest
    python scripts/make_prompts.py --only 'uk/num/*' --out /tmp/p   # a subset, elsewhere

Speech comes from espeak-ng, tones (music on hold, the voicemail beep) from sox; sox then
trims the silence around speech, band-limits and resamples to 8 kHz, and normalises the peak
level. Needs Debian's ``espeak-ng`` and ``sox`` (``--check`` needs neither). The output is
deterministic: sox runs with dither off and a fixed seed (``-D -R``), so the same script with
the same espeak-ng and sox versions writes the same bytes.

The manifest (``switchboard/prompts/manifest.json``) lists every file as
``<language>/<name>`` -> name, language, kind (speech / tone), text, duration, bytes, sha256
(+ ``say``, the espeak input when it differs from the text, and ``label``, the config
number name a ``number_name/<number>`` sample was made for).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from switchboard.config.prompts import DEFAULT_PROMPTS  # noqa: E402
from switchboard.media.prompts import (  # noqa: E402
    LANGUAGES,
    MANIFEST_FILE,
    PROMPTS_DIR,
    fragment_names,
    read_wav_info,
)

RATE = 8000
VOICES = {"en": "en-us", "uk": "uk", "ru": "ru"}
WORDS_PER_MINUTE = 150  # espeak-ng's default 175 is hurried on a phone line
SPEECH_PEAK_DB = -3.0
MUSIC_PEAK_DB = -15.0
BEEP_PEAK_DB = -12.0
HEAD_PAD, TAIL_PAD = 0.02, 0.08  # seconds kept around trimmed speech (no clicks, word gaps)
SOX = ["sox", "-D", "-R", "-V1"]  # no dither, repeatable seeds: byte-identical output

# --------------------------------------------------------------------------- texts
# A text may carry espeak-ng phonemes in [[...]] where its default stress is wrong; the
# manifest then keeps the plain text as "text" and the espeak input as "say".

PROMPT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "greeting": "Hello, and thank you for calling.",
        "thanks_for_waiting": "Thank you for waiting. An operator will answer you shortly.",
        "queue_position": "Your position in the queue is",
        "queue_eta": "The estimated waiting time is",
        "after_hours": "Sorry, we are closed now. We will call you back as soon as we open.",
        "voicemail_greeting": "Please leave your message after the tone. "
                              "When you have finished, just hang up.",
        "callback_offer": "To keep your place in the queue and have us call you back, "
                          "press 1.",
        "callback_confirmed": "Thank you. We will call you back as soon as an operator is free.",
        "ivr_invalid": "Sorry, that is not a valid choice.",
        "ivr_main": "For sales, press 1. For support, press 2.",
        "whisper_waited": "The caller waited",
        "goodbye": "Goodbye.",
        "closed_holiday": "We are closed for the public holiday today. "
                          "Please call us again on the next working day.",
        "all_busy": "All our operators are busy at the moment. Please stay on the line.",
        "advert": "Did you know? You can also place an order on our website, "
                  "at any time of the day or night.",
    },
    # uk and ru say the number or duration that follows in the nominative case, hence
    # "Ваш номер у черзі: ..." and "Час очікування клієнта: ..." ("одна хвилина").
    "uk": {
        "greeting": "Вітаємо! Дякуємо, що зателефонували.",
        "thanks_for_waiting": "Дякуємо за очікування. Оператор відповість вам найближчим часом.",
        "queue_position": "Ваш номер у черзі:",
        "queue_eta": "Орієнтовний час очікування:",
        "after_hours": "На жаль, зараз ми не працюємо. Ми зателефонуємо вам, щойно відкриємося.",
        "voicemail_greeting": "Будь ласка, залиште повідомлення після звукового сигналу. "
                              "Коли закінчите, просто покладіть слухавку.",
        "callback_offer": "Щоб зберегти своє місце в черзі та отримати зворотний дзвінок, "
                          "натисніть один.",
        "callback_confirmed": "Дякуємо! Ми зателефонуємо вам, щойно звільниться оператор.",
        "ivr_invalid": "Вибачте, такого варіанту немає.",
        "ivr_main": "Відділ продажу: натисніть один. Служба підтримки: натисніть два.",
        "whisper_waited": "Час очікування клієнта:",
        "goodbye": "До побачення!",
        "closed_holiday": "Сьогодні святковий день, і ми не працюємо. "
                          "Будь ласка, зателефонуйте нам у наступний робочий день.",
        "all_busy": "Зараз усі оператори зайняті. Будь ласка, залишайтеся на лінії.",
        "advert": "Чи знаєте ви, що замовлення можна оформити також на нашому сайті, "
                  "у будь-який час доби?",
    },
    "ru": {
        "greeting": "Здравствуйте! Спасибо за ваш звонок.",
        "thanks_for_waiting": "Спасибо за ожидание. Оператор ответит вам в ближайшее время.",
        "queue_position": "Ваш номер в очереди:",
        "queue_eta": "Примерное время ожидания:",
        "after_hours": "К сожалению, сейчас мы не работаем. "
                       "Мы перезвоним вам, как только откроемся.",
        "voicemail_greeting": "Пожалуйста, оставьте сообщение после звукового сигнала. "
                              "Когда закончите, просто положите трубку.",
        "callback_offer": "Чтобы сохранить своё место в очереди и получить обратный звонок, "
                          "нажмите один.",
        "callback_confirmed": "Спасибо! Мы перезвоним вам, как только освободится оператор.",
        "ivr_invalid": "Извините, такого варианта нет.",
        "ivr_main": "Отдел продаж: нажмите один. Служба поддержки: нажмите два.",
        "whisper_waited": "Время ожидания клиента:",
        "goodbye": "До свидания!",
        "closed_holiday": "Сегодня праздничный день, и мы не работаем. "
                          "Пожалуйста, позвоните нам в следующий рабочий день.",
        "all_busy": "Сейчас все операторы заняты. Пожалуйста, оставайтесь на линии.",
        "advert": "А вы знаете, что заказ можно оформить и на нашем сайте, "
                  "в любое время суток?",
    },
}

TONE_TEXTS = {
    "music_on_hold": "(music) a calm C, A minor, F, G arpeggio over soft chords; loops",
    "voicemail_beep": "(tone) 1000 Hz beep, 0.4 s",
}


def _words(text: str) -> list[str]:
    return text.split()


_EN_ONES = _words("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                  "fourteen fifteen sixteen seventeen eighteen nineteen")
_EN_TENS = _words("twenty thirty forty fifty sixty seventy eighty ninety")
_UK_ONES = _words("нуль один два три чотири п’ять шість сім вісім дев’ять десять одинадцять "
                  "дванадцять тринадцять чотирнадцять п’ятнадцять шістнадцять сімнадцять "
                  "вісімнадцять дев’ятнадцять")
_UK_TENS = _words("двадцять тридцять сорок п’ятдесят шістдесят сімдесят вісімдесят дев’яносто")
_UK_HUNDREDS = _words("сто двісті триста чотириста п’ятсот шістсот сімсот вісімсот дев’ятсот")
_RU_ONES = _words("ноль один два три четыре пять шесть семь восемь девять десять одиннадцать "
                  "двенадцать тринадцать четырнадцать пятнадцать шестнадцать семнадцать "
                  "восемнадцать девятнадцать")
_RU_TENS = _words("двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто")
_RU_HUNDREDS = _words("сто двести триста четыреста пятьсот шестьсот семьсот восемьсот девятьсот")

UNIT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "unit/thousand": "thousand",
        "unit/minute_one": "minute", "unit/minute_many": "minutes",
        "unit/second_one": "second", "unit/second_many": "seconds",
    },
    "uk": {
        "num/1f": "одна", "num/2f": "дві",
        "unit/thousand_one": "тисяча", "unit/thousand_few": "тисячі", "unit/thousand_many": "тисяч",
        "unit/minute_one": "хвилина", "unit/minute_few": "хвилини", "unit/minute_many": "хвилин",
        "unit/second_one": "секунда", "unit/second_few": "секунди", "unit/second_many": "секунд",
    },
    "ru": {
        "num/1f": "одна", "num/2f": "две",
        "unit/thousand_one": "тысяча", "unit/thousand_few": "тысячи", "unit/thousand_many": "тысяч",
        "unit/minute_one": "минута", "unit/minute_few": "минуты", "unit/minute_many": "минут",
        "unit/second_one": "секунда", "unit/second_few": "секунды", "unit/second_many": "секунд",
    },
}

# Where espeak-ng stresses a word wrongly, the word is given as phonemes. Applied to whole
# words of every text in that language.
STRESS: dict[str, dict[str, str]] = {
    "en": {},
    "uk": {
        "відповість": "vidpVv'ist", "вісімдесят": "visimdis'jat", "п’ятдесят": "pjatdis'jat",
        "дев’яносто": "divjan'ostV",
        "доби": "dVb'i", "зайняті": "z'Ajnjati", "зателефонували": "zatilifVnuv'Ali",
        "зателефонуйте": "zatilifVn'ujti", "зателефонуємо": "zatilifVn'uimV",
        "знаєте": "zn'Ajeti", "каталог": "katal'oh", "коли": "kVl'i",
        "лабораторія": "labVrat'orija", "лінія": "l'inija", "лінії": "l'inii",
        "натисніть": "natisn'it", "нашому": "n'ASVmu", "оберіг": "Vbir'ih", "один": "Vd'in",
        "одна": "Vdn'A", "орієнтовний": "Vrient'ovnij", "покладіть": "pVklad'it",
        "продажу": "p@-r'odaZu", "своє": "svVj'e", "секунд": "sik'und", "сорок": "s'orVk",
        "тисяч": "t'isjatS;", "тисяча": "t'isjatS;a", "тисячі": "t'isjatS;i",
        "хвилин": "xvil'in", "час": "tS;'As", "часом": "tS;'AsVm",
    },
    "ru": {"звукового": "zvuk'ovVvV", "к сожалению": "ksVZal;'en;iju"},
}

# Spoken names of the example configs' numbers (the agent's voice hint, W1): number ->
# (the config's ``name`` the sample was made for, {language: what is said}).
NUMBER_NAMES: dict[str, tuple[str, dict[str, str]]] = {
    "100": ("Demo shop", {"en": "Demo shop", "uk": "Демо-магазин", "ru": "Демо-магазин"}),
    "+380443904000": ("Оберіг офіс",
                      {"en": "Oberih office", "uk": "Оберіг, офіс", "ru": "Оберег, офис"}),
    "+380800504000": ("Оберіг гаряча лінія", {"en": "Oberih hotline",
                                             "uk": "Оберіг, гаряча лінія",
                                             "ru": "Оберег, горячая линия"}),
    "+380443900300": ("Сайт ТехноДім", {"en": "Tekhnodim website", "uk": "Сайт Технодім",
                                        "ru": "Сайт Технодим"}),
    "+380443900400": ("Каталог ТехноДім", {"en": "Tekhnodim catalogue",
                                           "uk": "Каталог Технодім", "ru": "Каталог Технодим"}),
    "+380443903000": ("Реєстратура", {"en": "Reception", "uk": "Реєстратура",
                                      "ru": "Регистратура"}),
    "+380443903100": ("Лабораторія", {"en": "Laboratory", "uk": "Лабораторія",
                                      "ru": "Лаборатория"}),
    "+380443900100": ("Продаж кавомашин", {"en": "Coffee machine sales",
                                           "uk": "Продаж кавомашин", "ru": "Продажа кофемашин"}),
    "+380443900200": ("Сервіс", {"en": "Service", "uk": "Сервіс", "ru": "Сервис"}),
    "+380443901001": ("Лапка", {"en": "Lapka", "uk": "Лапка", "ru": "Лапка"}),
    "+380443901002": ("Бджілка", {"en": "Bjilka", "uk": "Бджілка", "ru": "Бджилка"}),
    "+380443901003": ("Автопартс", {"en": "Auto parts", "uk": "Автопартс", "ru": "Автопартс"}),
    "+380443901009": ("Опт", {"en": "Wholesale", "uk": "Опт", "ru": "Опт"}),
}


def number_word(n: int, language: str) -> str:
    """The word(s) for 0..100 and the hundreds 200..900."""
    if language == "en":
        if n < 20:
            return _EN_ONES[n]
        if n % 100 == 0:
            return f"{_EN_ONES[n // 100]} hundred"
        tens, ones = divmod(n, 10)
        return _EN_TENS[tens - 2] + (f"-{_EN_ONES[ones]}" if ones else "")
    ones_words, tens_words, hundreds = {
        "uk": (_UK_ONES, _UK_TENS, _UK_HUNDREDS), "ru": (_RU_ONES, _RU_TENS, _RU_HUNDREDS),
    }[language]
    if n < 20:
        return ones_words[n]
    if n % 100 == 0:
        return hundreds[n // 100 - 1]
    tens, ones = divmod(n, 10)
    return tens_words[tens - 2] + (f" {ones_words[ones]}" if ones else "")


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True, slots=True)
class Item:
    """One file to generate."""

    language: str
    name: str
    kind: str  # "speech" or "tone"
    text: str
    say: str  # what espeak-ng is given (text with stress fixes); "" for tones
    label: str | None = None

    @property
    def key(self) -> str:
        return f"{self.language}/{self.name}"


def _with_stress(text: str, language: str) -> str:
    fixes = STRESS[language]
    if not fixes:
        return text
    pattern = re.compile(r"(?<![\w'’])(" + "|".join(map(re.escape, fixes)) + r")(?![\w'’])",
                         re.IGNORECASE)
    return pattern.sub(lambda m: f"[[{fixes[m.group(1).lower()]}]]", text)


def catalogue() -> list[Item]:
    """Every prompt file, in every language; checks that nothing the code uses is missing."""
    items: list[Item] = []
    for language in LANGUAGES:
        texts: dict[str, str] = dict(PROMPT_TEXTS[language])
        for name in fragment_names(language):
            if name.startswith("num/") and name[4:].isdigit():
                texts[name] = number_word(int(name[4:]), language)
            else:
                texts[name] = UNIT_TEXTS[language][name]
        speech_needed = (DEFAULT_PROMPTS - TONE_TEXTS.keys()) | set(fragment_names(language))
        missing = speech_needed - texts.keys()
        if missing:
            raise SystemExit(f"{language}: no text for {sorted(missing)}")
        for name in sorted(speech_needed):
            items.append(Item(language, name, "speech", texts[name],
                              _with_stress(texts[name], language)))
        for name in sorted(TONE_TEXTS):
            items.append(Item(language, name, "tone", TONE_TEXTS[name], ""))
        for number, (label, spoken) in sorted(NUMBER_NAMES.items()):
            text = spoken[language]
            items.append(Item(language, f"number_name/{number}", "speech", text,
                              _with_stress(text, language), label))
    return items


# --------------------------------------------------------------------------- rendering


def _run(args: list[str], stdin: bytes | None = None) -> None:
    result = subprocess.run(args, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.decode(errors='replace')}")


def render_speech(item: Item, out: Path, work: Path) -> None:
    raw = work / "espeak.wav"
    _run(["espeak-ng", "-v", VOICES[item.language], "-s", str(WORDS_PER_MINUTE),
          "-w", str(raw), "--stdin"], stdin=item.say.encode())
    threshold = "0.3%"
    _run([*SOX, str(raw), "-b", "16", "-c", "1", "-e", "signed-integer", str(out),
          "silence", "1", "0.005", threshold, "reverse", "silence", "1", "0.005", threshold,
          "reverse", "highpass", "120", "rate", "-v", str(RATE),
          "gain", "-n", str(SPEECH_PEAK_DB), "pad", str(HEAD_PAD), str(TAIL_PAD)])


_CHORDS = (  # (pad chord, arpeggio notes) in Hz: C, A minor, F, G
    ((261.63, 329.63, 392.00), (523.25, 659.25, 783.99, 1046.50)),
    ((220.00, 261.63, 329.63), (440.00, 523.25, 659.25, 880.00)),
    ((174.61, 220.00, 261.63), (349.23, 440.00, 523.25, 698.46)),
    ((196.00, 246.94, 293.66), (392.00, 493.88, 587.33, 783.99)),
)
_PATTERNS = ((0, 1, 2, 3, 2, 1, 0, 1), (0, 2, 1, 3, 2, 3, 1, 2))
_NOTE = 0.3  # seconds


def render_music(out: Path, work: Path) -> None:
    """Twice through C-Am-F-G: plucked arpeggio in eighths over a soft sine chord (19.2 s)."""
    fmt = ["-r", str(RATE), "-b", "16", "-c", "1", "-e", "signed-integer"]
    notes: list[str] = []
    pads: list[str] = []
    for pattern in _PATTERNS:
        for pad_freqs, arp in _CHORDS:
            for step in pattern:
                note = work / f"note{len(notes):03d}.wav"
                _run([*SOX, "-n", *fmt, str(note), "synth", str(_NOTE), "pluck", str(arp[step]),
                      "fade", "q", "0.005", str(_NOTE), str(_NOTE * 0.6)])
                notes.append(str(note))
            pad = work / f"pad{len(pads):02d}.wav"
            length = _NOTE * len(pattern)
            _run([*SOX, "-n", *fmt, str(pad), "synth", str(length),
                  *[w for f in pad_freqs for w in ("sine", str(f))], "remix", "-",
                  "fade", "q", "0.15", str(length), "0.4", "gain", "-10"])
            pads.append(str(pad))
    melody, chords = work / "melody.wav", work / "chords.wav"
    _run([*SOX, *notes, str(melody)])
    _run([*SOX, *pads, str(chords)])
    _run([*SOX, "-m", str(melody), str(chords), *fmt, str(out),
          "gain", "-n", str(MUSIC_PEAK_DB)])


def render_beep(out: Path) -> None:
    _run([*SOX, "-n", "-r", str(RATE), "-b", "16", "-c", "1", "-e", "signed-integer", str(out),
          "synth", "0.4", "sine", "1000", "fade", "q", "0.01", "0.4", "0.01",
          "gain", "-n", str(BEEP_PEAK_DB)])


def render(item: Item, root: Path) -> dict[str, object]:
    """Write one item's WAV under ``root``; return its manifest entry."""
    out = root / item.language / f"{item.name}.wav"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prompt-") as tmp:
        work = Path(tmp)
        staged = work / "out.wav"
        if item.name == "music_on_hold":
            render_music(staged, work)
        elif item.name == "voicemail_beep":
            render_beep(staged)
        else:
            render_speech(item, staged, work)
        shutil.copyfile(staged, out)
    return entry_for(item, out)


def entry_for(item: Item, path: Path) -> dict[str, object]:
    data = path.read_bytes()
    entry: dict[str, object] = {
        "name": item.name,
        "language": item.language,
        "kind": item.kind,
        "text": item.text,
        "duration": round(read_wav_info(path).duration, 4),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if item.say and item.say != item.text:
        entry["say"] = item.say
    if item.label is not None:
        entry["label"] = item.label
    return entry


def _tool_version(args: list[str]) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "missing"
    match = re.search(r"\d+(\.\d+)+", result.stdout + result.stderr)
    return match.group(0) if match else "unknown"


def _selected(items: Iterable[Item], only: list[str] | None) -> list[Item]:
    if not only:
        return list(items)
    return [i for i in items if any(fnmatch.fnmatchcase(i.key, p) for p in only)]


def generate(root: Path, only: list[str] | None = None, jobs: int | None = None) -> int:
    """(Re)generate the selected items under ``root`` and update the manifest there."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: apt-get install espeak-ng sox")
    everything = catalogue()
    items = _selected(everything, only)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST_FILE
    old: dict[str, dict[str, object]] = {}
    if only and manifest_path.is_file():
        old = json.loads(manifest_path.read_text("utf-8")).get("prompts", {})
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        entries = dict(zip((i.key for i in items), pool.map(lambda i: render(i, root), items),
                           strict=True))
    if not only:  # a full run owns the tree: drop files that are no longer made
        wanted = {i.key for i in everything}
        for wav in _wav_files(root):
            if _key(root, wav) not in wanted:
                wav.unlink()
    manifest = {
        "format": {"rate": RATE, "channels": 1, "bits": 16, "encoding": "pcm_s16le"},
        "generator": {
            "script": "scripts/make_prompts.py",
            "espeak-ng": _tool_version(["espeak-ng", "--version"]),
            "sox": _tool_version(["sox", "--version"]),
            "voices": VOICES,
            "words_per_minute": WORDS_PER_MINUTE,
        },
        "prompts": dict(sorted({**old, **entries}.items())),
    }
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return len(items)


# --------------------------------------------------------------------------- check


def _wav_files(root: Path) -> list[Path]:
    return sorted(p for lang in LANGUAGES for p in (root / lang).rglob("*.wav"))


def _key(root: Path, wav: Path) -> str:
    return wav.relative_to(root).with_suffix("").as_posix()


def check(root: Path) -> list[str]:
    """Problems with the committed tree: missing, changed or stray files, stale texts."""
    manifest_path = root / MANIFEST_FILE
    if not manifest_path.is_file():
        return [f"{manifest_path}: no manifest; run scripts/make_prompts.py"]
    entries: dict[str, dict[str, object]] = json.loads(
        manifest_path.read_text("utf-8")).get("prompts", {})
    problems: list[str] = []
    expected = {i.key: i for i in catalogue()}
    for key in sorted(expected.keys() - entries.keys()):
        problems.append(f"{key}: not in the manifest; regenerate")
    for key in sorted(entries.keys() - expected.keys()):
        problems.append(f"{key}: in the manifest but no longer made by the script; regenerate")
    for key in sorted(expected.keys() & entries.keys()):
        item, entry = expected[key], entries[key]
        for field, want in (("text", item.text), ("kind", item.kind), ("label", item.label),
                            ("say", item.say if item.say and item.say != item.text else None)):
            if entry.get(field) != want:
                problems.append(f"{key}: manifest {field} {entry.get(field)!r} but the script "
                                f"says {want!r}; regenerate")
        path = root / f"{key}.wav"
        if not path.is_file():
            problems.append(f"{key}: file {path} is missing")
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            problems.append(f"{key}: {path} differs from the manifest (sha256)")
        info = read_wav_info(path)
        if (info.format_tag, info.rate, info.channels, info.bits) != (1, RATE, 1, 16):
            problems.append(f"{key}: {path} is not 8 kHz mono 16-bit PCM: {info}")
        if abs(info.duration - float(str(entry.get("duration", -1)))) > 0.001:
            problems.append(f"{key}: {path} lasts {info.duration:.3f} s, manifest says "
                            f"{entry.get('duration')}")
    for wav in _wav_files(root):
        if _key(root, wav) not in entries:
            problems.append(f"{_key(root, wav)}: stray file {wav} not in the manifest")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PROMPTS_DIR, help="prompt tree to write")
    parser.add_argument("--check", action="store_true",
                        help="verify the files against the manifest and the script's texts")
    parser.add_argument("--only", action="append", metavar="GLOB",
                        help="generate only <language>/<name> matching (e.g. 'uk/num/*')")
    parser.add_argument("--jobs", type=int, default=None, help="parallel renders")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.out)
        for line in problems:
            print(line)
        if not problems:
            count = len(_wav_files(args.out))
            size = sum(p.stat().st_size for p in _wav_files(args.out))
            print(f"ok: {count} prompt files, {size / 1e6:.1f} MB, match {MANIFEST_FILE}")
        return 1 if problems else 0
    count = generate(args.out, args.only, args.jobs)
    print(f"wrote {count} prompt files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
