#!/usr/bin/env python3
"""The message style of docs/design.md ("Messages"), checked in the source.

Every line the tool writes to standard error is
    kvm-hotplug: <what failed>: <why> [hint]
(or "kvm-hotplug: warning: ...", or -v's progress). The prefix is written
in one place (log.c); so this looks at every message text given to
error_set, error_prefix, verbose, notice and warning, with adjacent string
literals joined, and at every direct write to stderr. Prints each breach
as FILE:LINE: what is wrong: the message; exits 1 if there is any.
Usage: tests/messages.py [SOURCE-DIR]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                    pathlib.Path(__file__).resolve().parent.parent)

# calls whose first string argument is a message, and which argument it is
CALLS = re.compile(r'\b(error_set|error_prefix|verbose|notice|warning)\s*\(')
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
# words a message may begin with in capitals: names, not a sentence's start
PROPER = {"QEMU", "Ganeti", "PCI", "ACPI", "QMP", "HMP", "JSON", "YAML",
          "DRIVER_OK", "SCM_RIGHTS", "DEVICE_DELETED", "PCIe"}
# the one place the prefix is written, and what writes to stderr
PREFIX_FILES = {"log.c"}


def message_at(text, start):
    """The joined string literals of the call's message argument, which
    begins at or after start: the first argument that is a literal."""
    depth, i, parts, seen = 0, start, [], False
    while i < len(text):
        c = text[i]
        if c == '"':
            m = LITERAL.match(text, i)
            parts.append(m.group(1))
            seen = True
            i = m.end()
            continue
        if seen and c not in " \t\n":
            break
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                break
            depth -= 1
        elif c == "," and depth == 0 and seen:
            break
        i += 1
    return "".join(parts) if seen else None


def breaches(call, msg):
    if "kvm-hotplug:" in msg:
        yield "the prefix is written by log.c alone"
    if "\\n" in msg:
        yield "one line: no newline in a message"
    if call == "error_prefix":
        if not msg.endswith(": "):
            yield "a prefix says what failed and ends with ': ' before the why"
        return
    if re.search(r'[.!\s]$', msg) and not msg.endswith("..."):
        yield "no full stop, exclamation or blank at the end"
    first = re.match(r"[A-Za-z_]+", msg)
    if first and msg[0].isupper() and first.group(0) not in PROPER and \
            not first.group(0).isupper():
        yield "begins in lower case (a capital only for a name: %s)" % \
            ", ".join(sorted(PROPER))
    if re.match(r"(?i)(error|fatal|failed)\b\s*:?", msg):
        yield "says what failed, not 'error'/'failed' first"


def main():
    bad = 0
    files = sorted(ROOT.glob("*.c"))
    if not files:
        print("messages.py: no C files in %s" % ROOT, file=sys.stderr)
        return 2
    count = 0
    for path in files:
        text = path.read_text()
        for m in CALLS.finditer(text):
            # the definition or declaration of the function itself
            if re.match(r"\w+\s*\(\s*(const\s+)?(struct|char|int|void)\b",
                        text[m.start():m.start() + 60]):
                continue
            msg = message_at(text, m.end())
            if msg is None:
                continue
            count += 1
            line = text.count("\n", 0, m.start()) + 1
            for why in breaches(m.group(1), msg):
                print("%s:%d: %s: \"%s\"" % (path.name, line, why, msg))
                bad += 1
        if path.name in PREFIX_FILES:
            continue
        for m in re.finditer(r"\b(?:v?fprintf\s*\(\s*stderr\b|"
                             r"fput[sc]\s*\([^;]*,\s*stderr\s*\)\s*;|"
                             r"(?:perror|warnx?|errx?)\s*\()", text):
            line = text.count("\n", 0, m.start()) + 1
            print("%s:%d: writes to stderr itself; messages go through "
                  "log.c" % (path.name, line))
            bad += 1
    if count < 100:
        print("messages.py: only %d messages found: is the pattern still "
              "right?" % count, file=sys.stderr)
        return 2
    print("messages.py: %d messages, %d breaches" % (count, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
