"""Griffe extension for the nephlab docs: render doctest examples as code.

nephlab docstrings put their runnable examples under ``Example:`` (or ``Example (what it
shows):``), which Google-style parsing turns into an admonition whose body is Markdown. Doctest
lines such as ``ops[1][1, 0]`` or an output ``[0, 1, 2]`` would then be read as Markdown
reference links. This extension wraps every doctest block (a ``>>>`` line and the lines after
it up to a blank line or a dedent) in a ```` ```pycon ```` fence, so it renders verbatim and
highlighted. It changes only the rendered docs, never the docstrings that the doctests run.

Loaded by mkdocstrings from ``mkdocs.yml`` (``extensions: [docs/guide/_griffe_doctest.py]``)
and excluded from the built site (``exclude_docs``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_PROMPT = re.compile(r"^(?P<indent>[ \t]*)>>>(?: |$)")


def fence_doctests(text: str) -> str:
    """Return ``text`` with each doctest block wrapped in a ``pycon`` code fence.

    Example:
        >>> fence_doctests("Example:\\n    >>> 1 + 1\\n    2\\n\\nDone.").splitlines()
        ['Example:', '    ```pycon', '    >>> 1 + 1', '    2', '    ```', '', 'Done.']
    """
    lines = text.splitlines()
    out: list[str] = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        m = None if in_fence else _PROMPT.match(line)
        if m is None:
            out.append(line)
            i += 1
            continue
        indent = m.group("indent")
        block: list[str] = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            block.append(lines[i])
            i += 1
        out.append(f"{indent}```pycon")
        out.extend(block)
        out.append(f"{indent}```")
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Wrap doctest blocks of every loaded object's docstring in code fences."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
