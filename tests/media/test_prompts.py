"""Prompt files and announcements composed from fragments, in English, Ukrainian and Russian.

Grammar tests compare fragment names and, read back through the manifest, the words a caller
hears. File tests open the committed WAVs with the standard ``wave`` module (not with the
reader under test).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from switchboard.config.model import Config
from switchboard.config.prompts import DEFAULT_PROMPTS
from switchboard.core.commands import Prompt, SayDuration, SayNumber, Utterance
from switchboard.media.prompts import (
    LANGUAGES,
    PROMPTS_DIR,
    PromptLibrary,
    PromptNotFound,
    duration_fragments,
    fragment_names,
    normalize_language,
    number_fragments,
    plural_form,
    read_wav_info,
    spoken_duration,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_prompts.py"
MANIFEST = json.loads((PROMPTS_DIR / "manifest.json").read_text("utf-8"))["prompts"]
MINUTE = 60


def key(path: Path) -> str:
    """``.../prompts/uk/num/21.wav`` -> ``uk/num/21``."""
    return path.relative_to(PROMPTS_DIR).with_suffix("").as_posix()


def heard(utterances: list[Utterance], language: str, **library: object) -> str:
    """The words a caller hears, from the manifest texts of the files composed."""
    paths = PromptLibrary(language, **library).compose(utterances)  # type: ignore[arg-type]
    return " ".join(MANIFEST[key(p)]["text"] for p in paths)


def read_samples(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path)) as w:
        params = w.getparams()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return params, samples


def write_wav(path: Path, seconds: float, rate: int = 8000, freq: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def make_prompts(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/make_prompts.py`` as a user would."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          check=False, timeout=240)


def wav_format(path: Path) -> tuple[int, int, int, int]:
    """(rate, channels, sample width, frames) of a WAV file."""
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def tool_version(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    match = re.search(r"\d+(\.\d+)+", result.stdout + result.stderr)
    return match.group(0) if match else "unknown"


# --------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(("n", "form"), [
    (0, "many"), (1, "one"), (2, "few"), (3, "few"), (4, "few"), (5, "many"), (10, "many"),
    (11, "many"), (12, "many"), (13, "many"), (14, "many"), (15, "many"), (20, "many"),
    (21, "one"), (22, "few"), (24, "few"), (25, "many"), (100, "many"), (101, "one"),
    (111, "many"), (112, "many"), (121, "one"), (122, "few"), (1001, "one"), (2014, "many"),
])
def test_slavic_plural_form_follows_the_last_two_digits(n: int, form: str) -> None:
    assert plural_form(n, "uk") == form
    assert plural_form(n, "ru") == form


@pytest.mark.parametrize(("n", "form"), [(0, "many"), (1, "one"), (2, "many"), (21, "many")])
def test_english_plural_form_is_one_or_many(n: int, form: str) -> None:
    assert plural_form(n, "en") == form


@pytest.mark.parametrize(("n", "fragments"), [
    (0, ["num/0"]),
    (7, ["num/7"]),
    (21, ["num/21"]),
    (100, ["num/100"]),
    (101, ["num/100", "num/1"]),
    (115, ["num/100", "num/15"]),
    (999, ["num/900", "num/99"]),
    (1000, ["num/1", "unit/thousand"]),
    (2021, ["num/2", "unit/thousand", "num/21"]),
    (9999, ["num/9", "unit/thousand", "num/900", "num/99"]),
    (12345, ["num/12", "unit/thousand", "num/300", "num/45"]),
    (1_000_000, ["num/1", "num/0", "num/0", "num/0", "num/0", "num/0", "num/0"]),
])
def test_english_numbers(n: int, fragments: list[str]) -> None:
    assert number_fragments(n, "en") == fragments


@pytest.mark.parametrize("language", ["uk", "ru"])
@pytest.mark.parametrize(("n", "fragments"), [
    (1, ["num/1"]),  # a position: "номер один", masculine
    (2, ["num/2"]),
    (21, ["num/21"]),
    (1000, ["unit/thousand_one"]),
    (1001, ["unit/thousand_one", "num/1"]),
    (2000, ["num/2f", "unit/thousand_few"]),
    (4321, ["num/4", "unit/thousand_few", "num/300", "num/21"]),
    (5000, ["num/5", "unit/thousand_many"]),
    (9999, ["num/9", "unit/thousand_many", "num/900", "num/99"]),
    (11000, ["num/11", "unit/thousand_many"]),
    (12000, ["num/12", "unit/thousand_many"]),
    (21000, ["num/20", "num/1f", "unit/thousand_one"]),
    (22000, ["num/20", "num/2f", "unit/thousand_few"]),
    (101000, ["num/100", "num/1f", "unit/thousand_one"]),
    (112000, ["num/100", "num/12", "unit/thousand_many"]),
])
def test_slavic_numbers_use_feminine_thousands(language: str, n: int, fragments: list[str]) -> None:
    assert number_fragments(n, language) == fragments


@pytest.mark.parametrize(("seconds", "said"), [
    (0, (0, "second")), (1, (1, "second")), (59, (59, "second")), (60, (1, "minute")),
    (89, (1, "minute")), (90, (2, "minute")), (149, (2, "minute")), (150, (3, "minute")),
    (3600, (60, "minute")),
])
def test_durations_under_a_minute_in_seconds_else_minutes_rounded_half_up(
    seconds: int, said: tuple[int, str]
) -> None:
    assert spoken_duration(seconds) == said


@pytest.mark.parametrize(("minutes", "fragments"), [
    (1, ["num/1f", "unit/minute_one"]),
    (2, ["num/2f", "unit/minute_few"]),
    (3, ["num/3", "unit/minute_few"]),
    (4, ["num/4", "unit/minute_few"]),
    (5, ["num/5", "unit/minute_many"]),
    (11, ["num/11", "unit/minute_many"]),
    (12, ["num/12", "unit/minute_many"]),
    (13, ["num/13", "unit/minute_many"]),
    (14, ["num/14", "unit/minute_many"]),
    (21, ["num/20", "num/1f", "unit/minute_one"]),
    (22, ["num/20", "num/2f", "unit/minute_few"]),
    (24, ["num/24", "unit/minute_few"]),
    (25, ["num/25", "unit/minute_many"]),
    (100, ["num/100", "unit/minute_many"]),
    (101, ["num/100", "num/1f", "unit/minute_one"]),
    (112, ["num/100", "num/12", "unit/minute_many"]),
    (1002, ["unit/thousand_one", "num/2f", "unit/minute_few"]),
])
@pytest.mark.parametrize("language", ["uk", "ru"])
def test_slavic_minutes(language: str, minutes: int, fragments: list[str]) -> None:
    assert duration_fragments(minutes * MINUTE, language) == fragments


@pytest.mark.parametrize(("seconds", "fragments"), [
    (0, ["num/0", "unit/second_many"]),
    (1, ["num/1f", "unit/second_one"]),
    (2, ["num/2f", "unit/second_few"]),
    (11, ["num/11", "unit/second_many"]),
    (21, ["num/20", "num/1f", "unit/second_one"]),
    (32, ["num/30", "num/2f", "unit/second_few"]),
    (45, ["num/45", "unit/second_many"]),
])
@pytest.mark.parametrize("language", ["uk", "ru"])
def test_slavic_seconds(language: str, seconds: int, fragments: list[str]) -> None:
    assert duration_fragments(seconds, language) == fragments


@pytest.mark.parametrize(("seconds", "fragments"), [
    (0, ["num/0", "unit/second_many"]),
    (1, ["num/1", "unit/second_one"]),
    (30, ["num/30", "unit/second_many"]),
    (60, ["num/1", "unit/minute_one"]),
    (120, ["num/2", "unit/minute_many"]),
    (21 * MINUTE, ["num/21", "unit/minute_many"]),
    (101 * MINUTE, ["num/100", "num/1", "unit/minute_many"]),
])
def test_english_durations(seconds: int, fragments: list[str]) -> None:
    assert duration_fragments(seconds, "en") == fragments


@pytest.mark.parametrize(("utterances", "language", "words"), [
    ([SayDuration(21 * MINUTE)], "uk", "двадцять одна хвилина"),
    ([SayDuration(22 * MINUTE)], "uk", "двадцять дві хвилини"),
    ([SayDuration(25 * MINUTE)], "uk", "двадцять п’ять хвилин"),
    ([SayDuration(11 * MINUTE)], "uk", "одинадцять хвилин"),
    ([SayDuration(14 * MINUTE)], "uk", "чотирнадцять хвилин"),
    ([SayDuration(1 * MINUTE)], "uk", "одна хвилина"),
    ([SayDuration(42)], "uk", "сорок дві секунди"),
    ([SayDuration(21 * MINUTE)], "ru", "двадцать одна минута"),
    ([SayDuration(22 * MINUTE)], "ru", "двадцать две минуты"),
    ([SayDuration(25 * MINUTE)], "ru", "двадцать пять минут"),
    ([SayDuration(12 * MINUTE)], "ru", "двенадцать минут"),
    ([SayDuration(31)], "ru", "тридцать одна секунда"),
    ([SayDuration(2 * MINUTE)], "en", "two minutes"),
    ([SayDuration(1 * MINUTE)], "en", "one minute"),
    ([SayDuration(1)], "en", "one second"),
    ([SayNumber(2022)], "uk", "дві тисячі двадцять два"),
    ([SayNumber(1000)], "ru", "тысяча"),
    ([SayNumber(5341)], "ru", "пять тысяч триста сорок один"),
    ([SayNumber(9999)], "en", "nine thousand nine hundred ninety-nine"),
    ([Prompt("queue_position"), SayNumber(3), Prompt("queue_eta"), SayDuration(150)], "uk",
     "Ваш номер у черзі: три Орієнтовний час очікування: три хвилини"),
    ([Prompt("whisper_waited"), SayDuration(95)], "en", "The caller waited two minutes"),
    ([Prompt("whisper_waited"), SayDuration(61)], "ru", "Время ожидания клиента: одна минута"),
])
def test_what_the_caller_hears(utterances: list[Utterance], language: str, words: str) -> None:
    assert heard(utterances, language) == words


def test_every_number_and_duration_is_composed_from_files_in_its_own_language() -> None:
    for language in LANGUAGES:
        library = PromptLibrary(language)
        names = set(fragment_names(language))
        for n in range(10_000):
            fragments = number_fragments(n, language) + duration_fragments(n, language)
            assert set(fragments) <= names, (language, n, fragments)
        for path in library.compose([SayNumber(n) for n in range(0, 10_000, 7)]):
            assert key(path).startswith(f"{language}/"), path


def test_negative_numbers_and_durations_are_misuse() -> None:
    with pytest.raises(ValueError):
        number_fragments(-1, "en")
    with pytest.raises(ValueError):
        duration_fragments(-5, "uk")


@pytest.mark.parametrize(("given", "code"), [
    ("uk", "uk"), ("uk-UA", "uk"), ("UA", "uk"), ("ru_RU", "ru"), ("en-GB", "en"), ("de", "de"),
])
def test_language_codes_are_normalised(given: str, code: str) -> None:
    assert normalize_language(given) == code


# --------------------------------------------------------------------------- the files


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_default_prompt_and_fragment_is_an_8khz_mono_wav(language: str) -> None:
    names = sorted(DEFAULT_PROMPTS) + fragment_names(language)
    for name in names:
        path = PROMPTS_DIR / language / f"{name}.wav"
        assert path.is_file(), f"{language}/{name} is missing"
        params, samples = read_samples(path)
        assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 8000), path
        assert samples.size > 0, path
        assert PromptLibrary(language).path(name) == path


@pytest.mark.parametrize("name", ["en/greeting", "uk/queue_position", "ru/advert",
                                  "uk/num/21", "ru/unit/minute_few", "en/music_on_hold",
                                  "uk/voicemail_beep"])
def test_a_prompt_is_not_silence(name: str) -> None:
    _, samples = read_samples(PROMPTS_DIR / f"{name}.wav")
    rms = float(np.sqrt(np.mean((samples / 32768.0) ** 2)))
    assert 20 * np.log10(rms) > -35, f"{name}: RMS {20 * np.log10(rms):.1f} dBFS"
    assert int(np.abs(samples).max()) < 32767, f"{name} clips"


def test_durations_are_sensible() -> None:
    library = PromptLibrary("en")
    for entry_key, entry in MANIFEST.items():
        path = PROMPTS_DIR / f"{entry_key}.wav"
        with wave.open(str(path)) as w:
            frames = w.getnframes()
        assert library.duration(path) == pytest.approx(frames / 8000)
        assert entry["duration"] == pytest.approx(frames / 8000, abs=1e-3)
        name = entry["name"]
        if name == "music_on_hold":
            assert 10 <= entry["duration"] <= 30, entry_key
        elif name == "voicemail_beep":
            assert 0.2 <= entry["duration"] <= 1, entry_key
        elif name.startswith(("num/", "unit/")):
            assert 0.2 <= entry["duration"] <= 2.5, entry_key
        else:
            assert 0.3 <= entry["duration"] <= 10, entry_key
    # speech is trimmed: a one-word fragment is well under a second
    assert MANIFEST["en/num/5"]["duration"] < 0.8


def test_duration_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    library = PromptLibrary("en")
    path = write_wav(tmp_path / "a.wav", 0.5)
    assert library.duration(path) == pytest.approx(0.5)
    write_wav(path, 1.25)
    assert library.duration(path) == pytest.approx(1.25)


def test_wav_info_reads_any_rate_and_encoding(tmp_path: Path) -> None:
    info = read_wav_info(write_wav(tmp_path / "cd.wav", 2.0, rate=44100))
    assert (info.format_tag, info.rate, info.channels, info.bits) == (1, 44100, 1, 16)
    assert info.duration == pytest.approx(2.0)
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="not a WAV"):
        read_wav_info(tmp_path / "junk.wav")


def test_the_committed_prompts_match_the_manifest() -> None:
    result = make_prompts("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: ")


def test_the_check_notices_a_changed_a_missing_and_a_stray_file(tmp_path: Path) -> None:
    tree = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, tree)
    with open(tree / "uk" / "greeting.wav", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    (tree / "ru" / "goodbye.wav").unlink()
    write_wav(tree / "en" / "extra.wav", 0.1)
    result = make_prompts("--check", "--out", str(tree))
    assert result.returncode == 1
    problems = result.stdout.splitlines()
    assert any(p.startswith("uk/greeting:") and "sha256" in p for p in problems), problems
    assert any(p.startswith("ru/goodbye:") and "missing" in p for p in problems), problems
    assert any(p.startswith("en/extra:") and "stray" in p for p in problems), problems
    assert len(problems) == 3, problems


def test_the_prompt_tree_stays_small() -> None:
    size = sum(p.stat().st_size for p in PROMPTS_DIR.rglob("*") if p.is_file())
    assert size < 15_000_000


def test_generation_is_deterministic(tmp_path: Path) -> None:
    # .ci/run installs espeak-ng and sox (Debian): without them this must fail, not skip.
    assert shutil.which("espeak-ng") and shutil.which("sox"), "apt-get install espeak-ng sox"
    generator = json.loads((PROMPTS_DIR / "manifest.json").read_text("utf-8"))["generator"]
    same_tools = (tool_version("espeak-ng", "--version"), tool_version("sox", "--version")) == (
        generator["espeak-ng"], generator["sox"])
    only = ["uk/num/2?", "ru/unit/*", "en/greeting", "en/voicemail_beep", "uk/music_on_hold"]
    result = make_prompts("--out", str(tmp_path), *(a for glob in only for a in ("--only", glob)))
    assert result.returncode == 0, result.stdout + result.stderr
    made = sorted(tmp_path.rglob("*.wav"))
    assert len(made) == 11 + 9 + 3  # uk 20-29 and 2f, ru nouns, three singles
    for path in made:
        committed = PROMPTS_DIR / path.relative_to(tmp_path)
        if same_tools:  # the very tools the set was made with: byte for byte
            assert path.read_bytes() == committed.read_bytes(), path
        else:  # other tool versions: same files, same format, not silence
            assert committed.is_file(), path
            rate, channels, width, frames = wav_format(path)
            assert (rate, channels, width) == (8000, 1, 2) and frames > 0, path


# --------------------------------------------------------------------------- resolution


def test_a_users_file_wins(tmp_path: Path) -> None:
    own = write_wav(tmp_path / "hello.wav", 1.0)
    library = PromptLibrary("uk", {"greeting": own})
    assert library.compose([Prompt("greeting")]) == [own]
    assert library.compose([Prompt("greeting")], "ru") == [own]
    assert key(library.path("goodbye")) == "uk/goodbye"


def test_a_users_file_for_one_language_only(tmp_path: Path) -> None:
    own = write_wav(tmp_path / "vitayemo.wav", 1.0)
    library = PromptLibrary("en", {"uk/greeting": own})
    assert library.compose([Prompt("greeting")], "uk") == [own]
    assert key(library.compose([Prompt("greeting")], "en")[0]) == "en/greeting"


def test_a_users_fragment_is_used_in_numbers(tmp_path: Path) -> None:
    five = write_wav(tmp_path / "five.wav", 0.4)
    library = PromptLibrary("en", {"num/5": five})
    paths = library.compose([SayNumber(5), SayDuration(5 * MINUTE)])
    assert paths[0] == five and paths[1] == five
    assert key(paths[2]) == "en/unit/minute_many"


def test_a_missing_users_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_text("hello")
    gone, bad = tmp_path / "gone.wav", tmp_path / "bad.wav"
    library = PromptLibrary("en", {"greeting": gone, "advert": bad})
    with pytest.raises(PromptNotFound, match=r"gone\.wav"):
        library.compose([Prompt("greeting")])
    problems = library.problems()
    assert len(problems) == 2
    assert "gone.wav does not exist" in problems[1] and "not a WAV" in problems[0]


def test_language_falls_back_to_english(tmp_path: Path) -> None:
    base = tmp_path / "tree"
    english = write_wav(base / "en" / "greeting.wav", 1.0)
    english_eta = write_wav(base / "en" / "queue_eta.wav", 1.0)
    ukrainian = write_wav(base / "uk" / "greeting.wav", 1.0)
    library = PromptLibrary("uk", base_dir=base)
    assert library.compose([Prompt("greeting"), Prompt("queue_eta")]) == [ukrainian, english_eta]
    assert library.compose([Prompt("greeting")], "de") == [english]
    with pytest.raises(PromptNotFound, match="'all_busy'"):
        library.compose([Prompt("all_busy")])


def test_an_unknown_language_speaks_english() -> None:
    assert heard([SayDuration(2 * MINUTE)], "de") == "two minutes"


def test_prompt_names_cannot_leave_the_tree() -> None:
    library = PromptLibrary("en")
    for name in ("../secret", "/etc/passwd", "en/../../x", "", "en/./greeting"):
        with pytest.raises(PromptNotFound):
            library.compose([Prompt(name)])


def test_a_numbers_name_is_its_sample_when_made_for_that_name() -> None:
    demo = PromptLibrary("en", number_names={"100": "Demo shop"})
    assert [key(p) for p in demo.compose([Prompt("number_name/100")])] == ["en/number_name/100"]
    shop = {"+380443901001": "Лапка"}
    assert heard([Prompt("number_name/+380443901001")], "uk", number_names=shop) == "Лапка"
    ru = PromptLibrary("uk", number_names=shop).compose([Prompt("number_name/+380443901001")], "ru")
    assert [key(p) for p in ru] == ["ru/number_name/+380443901001"]


def test_a_numbers_name_falls_back_to_its_digits() -> None:
    renamed = {"100": "Support line"}  # the shipped sample says "Demo shop": not for this
    assert heard([Prompt("number_name/100")], "en", number_names=renamed) == "one zero zero"
    assert heard([Prompt("number_name/100")], "en") == "one zero zero"
    assert heard([Prompt("number_name/+380447")], "uk") == "три вісім нуль чотири чотири сім"
    assert heard([Prompt("number_name/../../1")], "en") == "one"  # never a path out of the tree


def test_a_users_number_name_wins(tmp_path: Path) -> None:
    own = write_wav(tmp_path / "support.wav", 0.8)
    library = PromptLibrary("en", {"number_name/100": own}, number_names={"100": "Demo shop"})
    assert library.compose([Prompt("number_name/100")]) == [own]


def test_the_whisper_as_the_core_sends_it() -> None:
    library = PromptLibrary("en", number_names={"100": "Demo shop"})
    paths = library.compose(
        [Prompt("number_name/100"), Prompt("whisper_waited"), SayDuration(150)])
    assert [key(p) for p in paths] == [
        "en/number_name/100", "en/whisper_waited", "en/num/3", "en/unit/minute_many"]
    total = library.total_duration(paths)
    assert total == pytest.approx(sum(MANIFEST[key(p)]["duration"] for p in paths), abs=1e-3)


def test_from_config(tmp_path: Path) -> None:
    own = write_wav(tmp_path / "sounds" / "hello.wav", 1.0)
    config = Config.model_validate({
        "language": "uk",
        "numbers": [{"number": "100", "name": "Demo shop", "scheme": "s"},
                    {"number": "200", "scheme": "s", "language": "ru"}],
        "schemes": {"s": {"rules": []}},
        "prompts": {"greeting": "sounds/hello.wav"},
    })
    library = PromptLibrary.from_config(config, tmp_path)
    assert library.language == "uk"
    assert library.compose([Prompt("greeting")]) == [own]
    assert library.number_names == {"100": "Demo shop"}
    assert key(library.compose([Prompt("number_name/100")])[0]) == "uk/number_name/100"
    assert library.problems() == []
