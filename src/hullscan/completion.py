"""`hullscan completion bash|zsh|fish`: a shell completion script with the whole command tree written into it.

The script is static: pressing TAB runs no Python at all (Typer's own completion would start the CLI, and
with it pydantic, on every TAB, and cannot see the options of `hullscan sbom` and `hullscan scan`, which are
argparse entries kept light on purpose). The tree comes from Typer's commands and those two parsers when the
script is generated, so it follows the installed version: regenerate after an upgrade.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import Any

SHELLS = ("bash", "zsh", "fish")
# What an IMAGE/TARGET argument starts with (files complete as well).
TRANSPORTS = ("docker://", "oci-dir:", "oci-archive:", "docker-archive:", "docker-daemon:", "podman:", "dir:")
_SAFE = re.compile(r"^[A-Za-z0-9_.:/@+=,-]+$")  # words written into shell code unquoted


@dataclass
class Node:
    """One command: its subcommands, its options, which options take a value and the values they know."""

    children: dict[str, Node] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    valued: dict[str, list[str]] = field(default_factory=dict)  # option -> its choices ([]: any value, files)
    transports: bool = False  # a positional IMAGE/TARGET argument
    words: list[str] = field(default_factory=list)  # the values a positional argument knows


def _from_argparse(parser: argparse.ArgumentParser, extra_choices: dict[str, list[str]] | None = None) -> Node:
    node = Node(transports=True)
    for action in parser._actions:
        if not action.option_strings:
            continue
        node.options += action.option_strings
        if action.nargs != 0:
            choices = [str(c) for c in action.choices] if action.choices else []
            for opt in action.option_strings:
                node.valued[opt] = choices or (extra_choices or {}).get(opt, [])
    return node


def _from_click(command: Any) -> Node:
    """A Click command as Typer builds it (Typer carries its own copy of Click: read by duck typing)."""
    node = Node()
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        node.options += [*param.opts, *param.secondary_opts]
        if not param.is_flag and not getattr(param, "count", False):
            choices = _choices(param)
            for opt in param.opts:
                node.valued[opt] = choices
    node.options.append("--help")
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        if not getattr(sub, "hidden", False):
            node.children[name] = _from_click(sub)
    return node


def _choices(param: Any) -> list[str]:
    """The values an option knows (a Click Choice, or the Enum of a Typer option), else none."""
    import enum

    kind = getattr(param, "type", None) or getattr(param, "bare_type", None)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [str(m.value) for m in kind]
    return [str(c) for c in getattr(kind, "choices", None) or []]


def command_tree() -> Node:
    """Every command of `hullscan` with its options; `sbom` and `scan` from their own parsers."""
    import typer

    from hullscan.cli import app
    from hullscan.matching.__main__ import build_parser as scan_parser
    from hullscan.matching.reports import FORMATS as REPORT_FORMATS
    from hullscan.scanner.__main__ import build_parser as sbom_parser

    root = _from_click(typer.main.get_command(app))
    root.children["sbom"] = _from_argparse(sbom_parser())
    root.children["scan"] = _from_argparse(scan_parser(), {"-f": list(REPORT_FORMATS),
                                                           "--format": list(REPORT_FORMATS)})
    root.children["completion"].words = list(SHELLS)
    return root


def _flatten(node: Node, path: str = "") -> list[tuple[str, Node]]:
    out = [(path, node)]
    for name, child in node.children.items():
        out += _flatten(child, f"{path}/{name}" if path else name)
    return out


def _words(words: list[str]) -> str:
    bad = [w for w in words if not _SAFE.match(w)]
    if bad:
        raise ValueError(f"cannot write {bad[:3]} into a completion script")
    return " ".join(words)


def bash_script(root: Node) -> str:
    """A bash completion function (zsh loads the same through bashcompinit)."""
    nodes = _flatten(root)
    cases_children, cases_options, cases_values = [], [], []
    for path, node in nodes:
        key = path or "-"
        cases_children.append(f"    {key}) echo '{_words(sorted(node.children) or node.words)}';;")
        cases_options.append(f"    {key}) echo '{_words(node.options)}';;")
        for opt, choices in node.valued.items():
            cases_values.append(f"    '{key} {opt}') echo 'V {_words(choices)}';;")
    transports = _words(list(TRANSPORTS))
    with_image = "|".join(path for path, node in nodes if node.transports) or "__none__"
    return f"""# hullscan completion for bash (and zsh through bashcompinit), generated by `hullscan completion bash`.
# Load it with: eval "$(hullscan completion bash)", or save it as /etc/bash_completion.d/hullscan.
_hullscan_children() {{
  case "$1" in
{chr(10).join(cases_children)}
  esac
}}
_hullscan_options() {{
  case "$1" in
{chr(10).join(cases_options)}
  esac
}}
_hullscan_value() {{
  case "$1 $2" in
{chr(10).join(cases_values)}
  esac
}}
_hullscan() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" path="" i w kids values
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${{COMP_WORDS[i]}}"
    [[ $w == -* ]] && continue
    kids=" $(_hullscan_children "${{path:--}}") "
    [[ $kids == *" $w "* ]] && path="${{path:+$path/}}$w"
  done
  (( COMP_CWORD > 1 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  values="$(_hullscan_value "${{path:--}}" "$prev")"
  if [[ -n $values ]]; then
    values="${{values#V}}"
    if [[ -n ${{values// /}} ]]; then
      COMPREPLY=($(compgen -W "$values" -- "$cur"))
    else
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_hullscan_options "${{path:--}}")" -- "$cur"))
    return 0
  fi
  kids="$(_hullscan_children "${{path:--}}")"
  if [[ -n $kids ]]; then
    COMPREPLY=($(compgen -W "$kids" -- "$cur"))
    return 0
  fi
  case "$path" in
    {with_image}) COMPREPLY=($(compgen -W "{transports}" -- "$cur") $(compgen -f -- "$cur"));;
    *) COMPREPLY=($(compgen -f -- "$cur"));;
  esac
  [[ ${{#COMPREPLY[@]}} -eq 1 && ${{COMPREPLY[0]}} == *[:/] ]] && compopt -o nospace 2>/dev/null
  return 0
}}
complete -o default -F _hullscan hullscan
"""


def zsh_script(root: Node) -> str:
    """zsh: the bash function, through zsh's bashcompinit."""
    return ("# hullscan completion for zsh, generated by `hullscan completion zsh`.\n"
            "# Load it with: eval \"$(hullscan completion zsh)\" in ~/.zshrc (after compinit).\n"
            "autoload -U +X compinit && { (( $+functions[compdef] )) || compinit; }\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(root))


def fish_script(root: Node) -> str:
    """fish: one function computes the candidates from the command line, as the bash one does."""
    nodes = _flatten(root)
    children = "\n".join(f"        case '{path or '-'}'\n            echo '{_words(sorted(node.children) or node.words)}'"
                         for path, node in nodes)
    options = "\n".join(f"        case '{path or '-'}'\n            echo '{_words(node.options)}'" for path, node in nodes)
    values = "\n".join(f"        case '{path or '-'} {opt}'\n            echo 'V {_words(choices)}'"
                       for path, node in nodes for opt, choices in node.valued.items())
    with_image = " ".join(f"'{path}'" for path, node in nodes if node.transports)
    return f"""# hullscan completion for fish, generated by `hullscan completion fish`.
# Load it with: hullscan completion fish > ~/.config/fish/completions/hullscan.fish
function __hullscan_children
    switch $argv[1]
{children}
    end
end
function __hullscan_options
    switch $argv[1]
{options}
    end
end
function __hullscan_value
    switch "$argv[1] $argv[2]"
{values}
    end
end
function __hullscan_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l path ''
    for w in $words[2..-1]
        string match -q -- '-*' $w; and continue
        set -l key $path
        test -z "$key"; and set key -
        if contains -- $w (string split -- ' ' (__hullscan_children $key))
            if test -z "$path"
                set path $w
            else
                set path "$path/$w"
            end
        end
    end
    set -l key $path
    test -z "$key"; and set key -
    set -l prev ''
    test (count $words) -gt 1; and set prev $words[-1]
    set -l values (__hullscan_value $key $prev)
    if test -n "$values"
        set -l choices (string split -- ' ' (string trim (string sub -s 2 -- $values)))
        if test -n "$choices[1]"
            printf '%s\\n' $choices
        else
            __fish_complete_path $cur
        end
        return
    end
    if string match -q -- '-*' $cur
        string split -- ' ' (__hullscan_options $key)
        return
    end
    set -l kids (__hullscan_children $key)
    if test -n "$kids"
        string split -- ' ' $kids
        return
    end
    if contains -- $path {with_image or "''"}
        printf '%s\\n' {' '.join(TRANSPORTS)}
    end
    __fish_complete_path $cur
end
complete -c hullscan -f -a '(__hullscan_complete)'
"""


def script(shell: str) -> str:
    """The completion script for `shell` (bash, zsh or fish)."""
    root = command_tree()
    if shell == "bash":
        return bash_script(root)
    if shell == "zsh":
        return zsh_script(root)
    if shell == "fish":
        return fish_script(root)
    raise ValueError(f"unknown shell {shell!r}; choose one of {', '.join(SHELLS)}")
