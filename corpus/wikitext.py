"""Wikitext -> plain text, and the URLs an article cites, on mwparserfromhell's syntax tree.

LLaMA §2.1: "remove hyperlinks, comments and other formatting boilerplate". `clean(wikitext)`
removes markup, templates, tables, references, comments, file/category/interlanguage links and
hyperlinks (`[[target|label]]` -> `label`) and returns the text with the URLs cited in `<ref>`s
and citation templates (the positives of the Wikipedia-reference quality classifier, RECIPE §3.1).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Optional, Sequence


# File / Media / Category namespace names and aliases of the 20 languages (MediaWiki's
# Messages*.php), lower-cased; links with these prefixes are images and categories, not text.
_HIDDEN_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "bg": ("файл", "картинка", "изображение", "медия", "категория"),
    "ca": ("fitxer", "imatge", "arxiu", "multimèdia", "categoria"),
    "cs": ("soubor", "obrázek", "média", "kategorie"),
    "da": ("fil", "billede", "medie", "kategori"),
    "de": ("datei", "bild", "medium", "kategorie"),
    "en": ("file", "image", "media", "category"),
    "es": ("archivo", "imagen", "medio", "categoría", "categoria"),
    "fr": ("fichier", "image", "média", "catégorie"),
    "hr": ("datoteka", "slika", "mediji", "kategorija"),
    "hu": ("fájl", "kép", "média", "kategória"),
    "it": ("file", "immagine", "media", "categoria"),
    "nl": ("bestand", "afbeelding", "media", "categorie"),
    "pl": ("plik", "grafika", "media", "kategoria"),
    "pt": ("ficheiro", "arquivo", "imagem", "multimédia", "mídia", "categoria"),
    "ro": ("fișier", "fişier", "imagine", "media", "categorie"),
    "ru": ("файл", "изображение", "медиа", "категория"),
    "sl": ("slika", "datoteka", "media", "kategorija"),
    "sr": ("датотека", "слика", "медиј", "категорија", "datoteka", "slika", "medij", "kategorija"),
    "sv": ("fil", "bild", "media", "kategori"),
    "uk": ("файл", "зображення", "медіа", "категорія"),
}
_CANONICAL_HIDDEN = ("file", "image", "media", "category")


# The canonical English names and the local names of all 20 languages, whatever the dump's
# language: a mislabelled dump (the dbpedia "de" minidump says enwiki) still loses its
# `[[Datei:...]]`, and no article title starts with another edition's "File:" word. Other wikis
# add their own names from their siteinfo (`clean`'s `extra_prefixes`).
HIDDEN_PREFIXES = frozenset(_CANONICAL_HIDDEN + tuple(p for ps in _HIDDEN_BY_LANGUAGE.values() for p in ps))


# Interlanguage links `[[de:Foo]]` (no leading colon) are sidebar links, not text.
_INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")

# Tags whose content is not running text: references, tables, images, maths, code, charts.
_DROPPED_TAGS = frozenset({
    "ref", "references", "table", "gallery", "math", "chem", "ce", "hiero", "score", "timeline",
    "imagemap", "graph", "mapframe", "maplink", "templatedata", "templatestyles", "syntaxhighlight",
    "source", "pre", "code", "categorytree", "inputbox", "section", "indicator", "charinsert",
    "style", "script", "noinclude", "includeonly", "onlyinclude",
})
_LINE_BREAK_TAGS = frozenset({"br", "p", "div", "li", "dt", "dd"})

_HEADING = "\x00H"  # heading lines are marked while rendering, resolved in _clean_lines


def _render(code: Any, hidden: frozenset[str]) -> str:
    return "".join(_render_node(node, hidden) for node in code.nodes)


def _render_node(node: Any, hidden: frozenset[str]) -> str:
    from mwparserfromhell import nodes

    if isinstance(node, nodes.Text):
        return node.value
    if isinstance(node, nodes.Wikilink):
        return _render_wikilink(node, hidden)
    if isinstance(node, nodes.Tag):
        tag = str(node.tag).strip().lower()
        if tag in _DROPPED_TAGS or node.self_closing:
            return "\n" if tag == "br" else ""
        inner = _render(node.contents, hidden) if node.contents is not None else ""
        if tag in _LINE_BREAK_TAGS and not node.wiki_markup:
            return "\n" + inner + "\n"
        return inner
    if isinstance(node, nodes.ExternalLink):
        # Hyperlinks go; a bracketed link's label is text ("[http://x label]" -> "label").
        return _render(node.title, hidden) if node.brackets and node.title is not None else ""
    if isinstance(node, nodes.Heading):
        title = " ".join(_render(node.title, hidden).split())
        return f"{_HEADING}{node.level}\x00{title}\n"
    if isinstance(node, nodes.HTMLEntity):
        try:
            return node.normalize()
        except (ValueError, OverflowError):
            return ""
    # Templates (infoboxes, navboxes, citations, ...), comments and template arguments.
    return ""


def _render_wikilink(node: Any, hidden: frozenset[str]) -> str:
    title = str(node.title).strip()
    visible_colon = title.startswith(":")
    prefix, sep, _ = title.lstrip(":").partition(":")
    if sep and not visible_colon:
        p = prefix.strip().lower()
        if p in hidden or _INTERLANGUAGE.match(prefix.strip()):
            return ""  # an image with its caption, a category, or an interlanguage link
    if node.text is not None:
        return _render(node.text, hidden)
    shown = title.lstrip(":")
    return shown.split("#", 1)[0] if not shown.startswith("#") else shown[1:]


_MAGIC_WORD = re.compile(r"__[A-ZÄÖÜА-ЯЁІЇЄ_]+__")
_SPACES = re.compile(r"[ \t\u00a0]+")
_EMPTY_PARENS = re.compile(r"\([\s,;:]*\)|\[\s*\]")
_PAREN_OPEN_PUNCT = re.compile(r"\(\s*[,;:]+\s*")
_PAREN_CLOSE_PUNCT = re.compile(r"\s*[,;:]+\s*\)")
_PUNCT_RUN = re.compile(r"([,;])(?:\s*[,;])+")  # "Rosenbaum,; – 1982" once a date template is gone
_PAREN_INNER_SPACE = re.compile(r"(?<=\()\s+|\s+(?=\))")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?])")
_TABLE_LEFTOVER = re.compile(r"^(\{\||\|\}|\|-|\|\+|\||!)")  # table rows the parser left as text
_LIST_MARK = re.compile(r"^[*#:;]+\s*")
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_FLAT_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TEMPLATE_OPEN = re.compile(r"\{\{[^{}|]*\|?")


_LINK_OPEN = re.compile(r"\[\[\s*([^\[\]|:]+):")


def _leftovers(line: str) -> str:
    m = _LINK_OPEN.search(line)
    if m and m.group(1).strip().lower() in HIDDEN_PREFIXES:
        line = line[: m.start()]  # an image whose caption runs over lines: drop it to the line end
    line = _HTML_TAG.sub("", line)
    for _ in range(3):
        line, n = _FLAT_TEMPLATE.subn("", line)
        if not n:
            break
    line = _TEMPLATE_OPEN.sub("", line).replace("}}", "")
    return line.strip()


def _clean_lines(rendered: str) -> str:
    """Tidy the rendered text: one paragraph per line, headings only above kept content."""
    out: list[tuple[int, str]] = []  # (heading level or 0, line)
    for raw in rendered.split("\n"):
        if raw.startswith(_HEADING):
            level_s, _, title = raw[len(_HEADING):].partition("\x00")
            title = _MAGIC_WORD.sub("", title).strip(" =")
            if title:
                out.append((int(level_s or 2), title))
            continue
        line = _MAGIC_WORD.sub("", raw.replace("\x00", ""))
        line = _SPACES.sub(" ", line).strip()
        if _TABLE_LEFTOVER.match(line):
            continue
        # Markup the parser left as text (constructs it could not close).
        line = _leftovers(line)
        line = _LIST_MARK.sub("", line)
        # What removed templates leave behind: "Asphalt ({{IPA}}, also {{IPA}})" -> "(, also )".
        line = _EMPTY_PARENS.sub("", line)
        line = _PAREN_OPEN_PUNCT.sub("(", line)
        line = _PAREN_CLOSE_PUNCT.sub(")", line)
        line = _PAREN_INNER_SPACE.sub("", line)
        line = _PUNCT_RUN.sub(lambda m: ";" if ";" in m.group(0) else ",", line)
        line = _SPACE_BEFORE_PUNCT.sub(r"\1", line)
        line = _SPACES.sub(" ", line).strip()
        if line and any(ch.isalnum() for ch in line):
            out.append((0, line))
    # A heading stays only if text follows it before the next heading of the same or higher rank
    # ("References", "External links", ... become empty once refs and links are gone).
    kept: list[str] = []
    for i, (level, line) in enumerate(out):
        if level:
            has_body = False
            for next_level, _ in out[i + 1:]:
                if next_level == 0:
                    has_body = True
                    break
                if next_level <= level:
                    break
            if not has_body:
                continue
        kept.append(line)
    return "\n".join(kept).strip()


def clean(wikitext: str, extra_prefixes: Iterable[str] = ()) -> tuple[str, list[str]]:
    """(plain text, cited URLs) of a page's wikitext: markup, templates, tables, references,
    comments, file/category/interlanguage links and hyperlinks removed, `[[target|label]]` ->
    `label`. `extra_prefixes`: a dump's own File/Category names beyond the 20 languages'.
    Raises RecursionError on pathologically nested markup."""
    import mwparserfromhell

    body, refs = split_refs(wikitext)
    body, _ = defuse_unbalanced(body)
    code = mwparserfromhell.parse(body)
    urls = _ref_urls(code, refs)
    hidden = HIDDEN_PREFIXES.union(extra_prefixes)
    return _clean_lines(_render(code, hidden)), urls


# Comments and <ref>s are cut out before parsing: mwparserfromhell gives up on some long pages
# (its tokenizer backs off to plain text on constructs it cannot close), and then `<ref>...</ref>`
# would survive as text. Cutting them first is robust and makes the parse smaller. Both cuts are
# linear on any input (a page of 50,000 unclosed `<ref`s took minutes with a regex).
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)  # linear: an unclosed comment runs to the end once
_REF_CLOSE = re.compile(r"</ref\s*>", re.IGNORECASE)


def split_refs(wikitext: str) -> tuple[str, list[str]]:
    """(wikitext without comments and <ref>s, the contents of the <ref>s in page order).

    `<ref .../>` and `<ref ...>...</ref>` are cut; an opening `<ref ...>` that no `</ref>` closes is
    cut alone (its text stays). One pass, each search starting where the last one ended.
    """
    text = _COMMENT.sub("", wikitext)
    lower = text.lower()
    refs: list[str] = []
    out: list[str] = []
    pos = 0
    closers_left = True
    while True:
        start = lower.find("<ref", pos)
        if start < 0:
            break
        after = start + 4
        if after < len(text) and (text[after].isalnum() or text[after] == "_"):  # <references/>, <refname>
            out.append(text[pos:after])
            pos = after
            continue
        lt = text.find("<", after)
        gt = text.find(">", after, lt if lt >= 0 else len(text))  # a tag ends before the next "<"
        if gt < 0:
            if lt < 0:
                break  # no tag ends anywhere after: the rest is text
            out.append(text[pos:lt])  # "<ref <ref ...": not a tag; go on from the next "<"
            pos = lt
            continue
        out.append(text[pos:start])
        if text[gt - 1] == "/":  # <ref name="x" />
            pos = gt + 1
            continue
        close = _REF_CLOSE.search(text, gt + 1) if closers_left else None
        if close is None:
            closers_left = False  # none later either: every further opener is cut alone
            pos = gt + 1
            continue
        content = text[gt + 1:close.start()]
        if content:
            refs.append(content)
        pos = close.end()
    out.append(text[pos:])
    return "".join(out), refs


# mwparserfromhell retries every construct it cannot close to the end of the page: a page of
# thousands of unclosed `{{`, `[[`, `[http` or `<div>` takes minutes (5,000 `{{a|` in 20 KB: 27 s).
# Real articles have a few stray brackets at most, so up to this many unmatched openers of a kind
# are left alone; beyond it they are removed before parsing, which keeps the parse linear.
MAX_UNMATCHED = 10
_BRACE_RUNS = {"{": re.compile(r"\{+|\}+"), "[": re.compile(r"\[+|\]+")}
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)(?=[\s/>])[^<>]*>")
_BROKEN_TAG = re.compile(r"<(?=/?[A-Za-z])[^<>]*(?=<|\Z)")  # "<ref <ref ...": a tag start no ">" ends


def defuse_unbalanced(wikitext: str, limit: int = MAX_UNMATCHED) -> tuple[str, int]:
    """(wikitext with its unmatched `{`, `[` and tag openers, and the `<` of tag starts that no
    `>` ends, removed when a kind has more than `limit` of them; how many spans were cut).
    Linear: each kind is matched with one stack or one scan."""
    from mwparserfromhell import definitions

    cuts: list[tuple[int, int]] = []
    for opener, runs in _BRACE_RUNS.items():
        stack: list[list[int]] = []  # [start, count] runs of unmatched opening characters
        for m in runs.finditer(wikitext):
            n = m.end() - m.start()
            if wikitext[m.start()] == opener:
                stack.append([m.start(), n])
                continue
            while n and stack:
                take = min(n, stack[-1][1])
                stack[-1][1] -= take
                n -= take
                if not stack[-1][1]:
                    stack.pop()
        if sum(count for _, count in stack) > limit:
            cuts.extend((start, start + count) for start, count in stack)  # closers took the run's end
    open_tags: dict[str, list[tuple[int, int]]] = {}
    for m in _TAG_TOKEN.finditer(wikitext):
        name = m.group(2).lower()
        if m.group(0).endswith("/>") or definitions.is_single(name):
            continue
        if m.group(1):
            if open_tags.get(name):
                open_tags[name].pop()
        else:
            open_tags.setdefault(name, []).append((m.start(), m.end()))
    unmatched_tags = [span for spans in open_tags.values() for span in spans]
    if len(unmatched_tags) > limit:
        cuts.extend(unmatched_tags)
    broken = [(m.start(), m.start() + 1) for m in _BROKEN_TAG.finditer(wikitext)]
    if len(broken) > limit:
        cuts.extend(broken)  # the "<" goes, the words stay
    if not cuts:
        return wikitext, 0
    out: list[str] = []
    pos = 0
    for start, end in sorted(cuts):
        start = max(start, pos)
        out.append(wikitext[pos:start])
        pos = max(pos, end)
    out.append(wikitext[pos:])
    return "".join(out), len(cuts)


# =============================================================================================
# Cited URLs (positives of the Wikipedia-reference quality classifier, RECIPE §3.1)
# =============================================================================================
_URL = re.compile(r"^(?:(?:https?|ftp):)?//[^\s<>\[\]{}|\"]+$", re.IGNORECASE)
_URL_PARAMS = frozenset({"url", "chapter-url", "chapterurl", "contribution-url", "section-url"})
_CITE_PREFIXES = ("cite", "citation")


def _clean_url(value: str) -> Optional[str]:
    value = value.strip()
    if not _URL.match(value):
        return None
    return "https:" + value if value.startswith("//") else value


def _template_urls(template: Any) -> Iterator[str]:
    for param in template.params:
        if str(param.name).strip().lower() in _URL_PARAMS:
            from mwparserfromhell import nodes

            value = "".join(str(n) for n in param.value.nodes if not isinstance(n, nodes.Comment))
            url = _clean_url(value)
            if url:
                yield url


def _ref_urls(code: Any, refs: Sequence[str] = ()) -> list[str]:
    import mwparserfromhell

    found: list[str] = []
    for ref in refs:
        _collect_urls(mwparserfromhell.parse(ref), True, found)
    _collect_urls(code, False, found)
    return list(dict.fromkeys(found))


def _collect_urls(code: Any, in_ref: bool, found: list[str]) -> None:
    """Walk the tree in page order: links inside <ref>, url params of templates inside <ref> and of
    citation templates anywhere (bibliographies cite sources too). Archive copies are not taken."""
    from mwparserfromhell import nodes

    for node in code.nodes:
        if isinstance(node, nodes.Tag):
            if node.contents is not None:
                _collect_urls(node.contents, in_ref or str(node.tag).strip().lower() == "ref", found)
        elif isinstance(node, nodes.ExternalLink):
            if in_ref:
                url = _clean_url(str(node.url))
                if url:
                    found.append(url)
        elif isinstance(node, nodes.Template):
            if in_ref or str(node.name).strip().lower().startswith(_CITE_PREFIXES):
                found.extend(_template_urls(node))
            for param in node.params:
                name = str(param.name).strip().lower()
                if name not in _URL_PARAMS and "archive" not in name:
                    _collect_urls(param.value, in_ref, found)
        elif isinstance(node, nodes.Wikilink):
            if node.text is not None:
                _collect_urls(node.text, in_ref, found)
        elif isinstance(node, nodes.Heading):
            _collect_urls(node.title, in_ref, found)
