#!/usr/bin/env python3
"""Extract the catalogue of Uyuni's XML-RPC API from a local checkout of uyuni-project/uyuni.

    scripts/gen-api-catalogue.py --uyuni PATH [--out DIR]

Reads the namespace -> handler class map of HandlerFactory.java, then every handler class:
its public methods (the Java parameter names and types; a first parameter of type `User` is
the session key), their `@apidoc.*` (or older `@xmlrpc.*`) comments for the element type of
arrays and the fields of the answer, and the annotations `@ReadOnly`, `@Deprecated`,
`@ApiIgnore(ApiType.HTTP)` and `@apidoc.ignore`. Writes `methods.tsv` and `handlers.tsv` in the
format uyuni-api/build.rs reads (default DIR: uyuni-api/catalogue), each handler with the
commit of its file (`git log -1`). Only names and types are written: no code, no comments.

`supplement.tsv` (overloads the handler versions read predate) is kept by hand.
"""

import argparse
import os
import re
import subprocess
import sys

HANDLER_FACTORY = "java/code/src/com/redhat/rhn/frontend/xmlrpc/HandlerFactory.java"
SOURCE_ROOTS = ("java/code/src",)
# Namespaces whose handler forwards any method name to another service.
DYNAMIC = ("taskomatic", "taskomatic.org")

JAVA_TYPES = {
    "int": "int", "Integer": "int", "long": "int", "Long": "int", "short": "int",
    "String": "string", "boolean": "boolean", "Boolean": "boolean",
    "double": "double", "Double": "double", "float": "double", "Float": "double",
    "Date": "date", "byte[]": "base64", "Object": "any",
}
APIDOC_TYPES = {
    "int": "int", "long": "int", "string": "string", "boolean": "boolean",
    "double": "double", "dateTime.iso8601": "date", "date": "date", "base64": "base64",
    "struct": "struct", "array": "array",
}


def java_type(t):
    """The XML-RPC base type of a Java parameter or return type."""
    t = re.sub(r"<.*>", "", t.strip()).strip()
    if t.endswith("[]") and t != "byte[]":
        return "array"
    if t in JAVA_TYPES:
        return JAVA_TYPES[t]
    if t in ("List", "Set", "Collection", "ArrayList", "Object[]") or t.endswith("List"):
        return "array"
    if t in ("Map", "HashMap", "TreeMap", "LinkedHashMap"):
        return "struct"
    return "struct"


def handler_map(factory_text):
    """namespace -> handler class name, in the order HandlerFactory adds them."""
    out = {}
    for m in re.finditer(r'addHandler\(\s*"([\w.]+)"\s*,\s*new\s+(\w+)\s*\(', factory_text):
        out.setdefault(m.group(1), m.group(2))
    return out


def find_sources(root):
    """Class name -> path (relative to root) of every Java file under the source roots."""
    found = {}
    for sub in SOURCE_ROOTS:
        base = os.path.join(root, sub)
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                if f.endswith(".java"):
                    found.setdefault(f[:-5], os.path.relpath(os.path.join(dirpath, f), root))
    return found


def split_params(text):
    """Java parameters `A a, Map<String, Object> b` split at top-level commas."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    out = []
    for p in parts:
        p = re.sub(r"@\w+(\([^)]*\))?", "", p).replace("final ", "").strip()
        m = re.match(r"(.+?)\s+(\w+)$", p)
        if m:
            out.append((m.group(2), m.group(1).strip()))
    return out


DOC_PARAM = re.compile(r"@(?:apidoc|xmlrpc)\.param\s+(.*?)(?=@(?:apidoc|xmlrpc)\.|\Z)", re.S)
DOC_RETURN = re.compile(r"@(?:apidoc|xmlrpc)\.returntype\s+(.*?)(?=@(?:apidoc|xmlrpc)\.|\Z)", re.S)
MACRO_ARGS = re.compile(r'#(\w+)\(\s*"?([\w.]*)"?\s*(?:,\s*"([^"]*)")?')


def doc_params(doc):
    """The documented parameters (session key left out): name -> (type, element type)."""
    out = {}
    for block in DOC_PARAM.findall(doc):
        m = MACRO_ARGS.search(block)
        if not m or m.group(1) == "session_key":
            continue
        macro, ty, name = m.group(1), m.group(2), m.group(3) or ""
        if macro.startswith("array_single"):
            out[name] = ("array", APIDOC_TYPES.get(ty, ty))
        elif macro.startswith("array"):
            out[name or ty] = ("array", "struct")
        elif macro.startswith("struct"):
            out[ty or name] = ("struct", "")
        elif macro.startswith("param"):
            out[name] = (APIDOC_TYPES.get(ty, ty), "")
    return out


def doc_returns(doc):
    """The documented answer as the data file writes it (`array/struct:X`, `struct{a,b}`)."""
    blocks = DOC_RETURN.findall(doc)
    if not blocks:
        return ""
    text = blocks[0]
    serializer = re.search(r"\$(\w+?)(?:Serializer)?\b", text)
    props = re.findall(r'#prop(?:_desc|_array)?\(\s*"[^"]*"\s*,\s*"([^"]+)"', text)
    if re.search(r"#array_single\(", text):
        m = re.search(r'#array_single\(\s*"([\w.]+)"', text)
        return "array/" + APIDOC_TYPES.get(m.group(1), m.group(1))
    inner = ""
    if serializer:
        inner = "struct:" + serializer.group(1) + "Serializer"
    elif props:
        inner = "struct{" + ",".join(dict.fromkeys(props)) + "}"
    elif re.search(r"#struct_begin", text):
        inner = "struct"
    if re.search(r"#array_begin\(|#return_array_begin\(", text):
        return "array/" + (inner or "struct")
    if inner:
        return inner
    m = re.search(r'#param(?:_desc)?\(\s*"([\w.]+)"', text)
    if m:
        return APIDOC_TYPES.get(m.group(1), m.group(1))
    if "#return_int_success" in text:
        return "int"
    return ""


METHOD = re.compile(
    r"(?P<pre>(?:\s*@[\w.]+(?:\([^)]*\))?)*)\s*public\s+(?!static|class|interface)"
    r"(?P<ret>[\w<>\[\], ?]+?)\s+(?P<name>\w+)\s*\((?P<params>[^)]*)\)"
)


def methods_of(text):
    """The public methods of a handler class: (name, session, params, returns, flags)."""
    out = []
    pos = 0
    while True:
        m = METHOD.search(text, pos)
        if not m:
            break
        pos = m.end()
        name, ret = m.group("name"), m.group("ret").strip()
        if name[0].isupper() or ret in ("class", "new"):
            continue  # constructors
        start = m.start()
        doc_end = text.rfind("*/", 0, start)
        doc_start = text.rfind("/**", 0, doc_end) if doc_end != -1 else -1
        between = text[doc_end + 2:start] if doc_end != -1 else ""
        doc = text[doc_start:doc_end] if doc_start != -1 and not re.search(r"[;{}]", between) else ""
        annotations = m.group("pre") + between
        if re.search(r"@ApiIgnore\s*(\(\s*\))?(?!\s*\()", annotations) and "ApiType.HTTP" not in annotations:
            continue
        params = split_params(m.group("params"))
        session = bool(params) and params[0][1] == "User"
        if session:
            params = params[1:]
        elif name == "logout" and params and params[0][0] == "sessionKey":
            session, params = True, params[1:]
        documented = doc_params(doc)
        cols = []
        for pname, ptype in params:
            base = java_type(ptype)
            elem = documented.get(pname, ("", ""))[1] if base == "array" else ""
            cols.append(f"{pname}:{base}/{elem}" if elem else f"{pname}:{base}")
        returns = doc_returns(doc) or java_type(ret)
        flags = []
        if "@ReadOnly" in annotations:
            flags.append("ro")
        if "@Deprecated" in annotations or "@deprecated" in doc or "@apidoc.deprecated" in doc:
            flags.append("dep")
        if "ApiType.HTTP" in annotations:
            flags.append("nohttp")
        if "@apidoc.ignore" in doc or "@xmlrpc.ignore" in doc:
            flags.append("undoc")
        out.append((name, session, cols, returns, flags))
    return out


def commit_of(root, path):
    try:
        r = subprocess.run(["git", "-C", root, "log", "-1", "--format=%H", "--", path],
                           capture_output=True, text=True, check=False)
        return r.stdout.strip() or "(not in git)"
    except OSError:
        return "(not in git)"


def generate(root):
    """(methods rows, handlers rows, problems) for the checkout at root."""
    with open(os.path.join(root, HANDLER_FACTORY), encoding="utf-8") as f:
        namespaces = handler_map(f.read())
    sources = find_sources(root)
    methods, handlers, problems = [], [], []
    for ns, cls in namespaces.items():
        path = sources.get(cls)
        if path is None:
            problems.append(f"{ns}: no source for {cls}")
            continue
        handlers.append((ns, path, commit_of(root, path)))
        if ns in DYNAMIC:
            methods.append((ns, "*", "y", "", "any", "dynamic,undoc"))
            continue
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
        for name, session, cols, returns, flags in methods_of(text):
            methods.append((ns, name, "y" if session else "n", ",".join(cols), returns,
                            ",".join(flags)))
    return methods, handlers, problems


def write(out_dir, methods, handlers):
    with open(os.path.join(out_dir, "methods.tsv"), "w", encoding="utf-8") as f:
        f.write("# namespace\tmethod\tsession\tparams (javaName:type, type array/elem)"
                "\treturns\tflags\n")
        for row in methods:
            f.write("\t".join(row) + "\n")
    with open(os.path.join(out_dir, "handlers.tsv"), "w", encoding="utf-8") as f:
        f.write("# namespace\thandler source (uyuni-project/uyuni)\tcommit of the file version read\n")
        for row in handlers:
            f.write("\t".join(row) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uyuni", required=True, help="local checkout of uyuni-project/uyuni")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..",
                                                  "uyuni-api", "catalogue"))
    args = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(args.uyuni, HANDLER_FACTORY)):
        print(f"{args.uyuni}: no {HANDLER_FACTORY}", file=sys.stderr)
        return 2
    methods, handlers, problems = generate(args.uyuni)
    for p in problems:
        print("warning:", p, file=sys.stderr)
    write(args.out, methods, handlers)
    names = {(r[0], r[1]) for r in methods}
    print(f"{len(handlers)} namespaces, {len(names)} methods, {len(methods)} overloads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
