#!/usr/bin/env python3
"""Generates ../generated.rs, the static protobuf schema table used by the `protobuf` module.

Inputs are two git checkouts (bare repositories are fine; files are read with `git show`):
  --api           a clone of github.com/kubernetes/api
  --apimachinery  a clone of github.com/kubernetes/apimachinery

For every message reachable from the root kinds below it reads
  * the field numbers and protobuf types from `generated.proto`, and
  * the JSON name, `omitempty`, Go pointer-ness and inlining (`json:""` / `json:",inline"`)
    from the Go struct in `types.go` (matched by struct name and protobuf field number),
and writes one `static` per message.

Usage:
  python3 gen_schema.py --api /path/kubernetes-api --apimachinery /path/apimachinery > ../generated.rs
  (generated.rs is excluded from rustfmt by `#[rustfmt::skip]` in mod.rs)
"""
import argparse
import re
import subprocess
import sys

ROOTS = [
    "k8s.io.api.core.v1.Pod",
    "k8s.io.api.core.v1.Namespace",
    "k8s.io.api.core.v1.Node",
    "k8s.io.api.core.v1.Event",
    "k8s.io.api.core.v1.ConfigMap",
    "k8s.io.api.core.v1.Secret",
    "k8s.io.api.core.v1.Service",
    "k8s.io.api.core.v1.Endpoints",
    "k8s.io.api.core.v1.ServiceAccount",
    "k8s.io.api.core.v1.Binding",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "k8s.io.api.apps.v1.Deployment",
    "k8s.io.api.apps.v1.ReplicaSet",
    "k8s.io.api.coordination.v1.Lease",
    "k8s.io.api.autoscaling.v1.Scale",
    "k8s.io.api.events.v1.Event",
    "k8s.io.api.policy.v1.Eviction",
]

# Messages with a custom JSON form: decoded by hand in decode.rs, never walked field by field.
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Kind::Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "Kind::MicroTime",
    # Not reachable from the roots today; decode.rs has no support for them yet.
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": None,
    "k8s.io.apimachinery.pkg.runtime.RawExtension": None,
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "Kind::FieldsV1",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Kind::Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "Kind::IntOrString",
}

SCALARS = {
    "string": "Kind::String",
    "bytes": "Kind::Bytes",
    "bool": "Kind::Bool",
    "int32": "Kind::Int32",
    "int64": "Kind::Int64",
}

# package -> (repo key, directory, rust prefix)
PACKAGES = {
    "k8s.io.api.core.v1": ("api", "core/v1", "CORE_V1"),
    "k8s.io.api.apps.v1": ("api", "apps/v1", "APPS_V1"),
    "k8s.io.api.coordination.v1": ("api", "coordination/v1", "COORDINATION_V1"),
    "k8s.io.api.autoscaling.v1": ("api", "autoscaling/v1", "AUTOSCALING_V1"),
    "k8s.io.api.events.v1": ("api", "events/v1", "EVENTS_V1"),
    "k8s.io.api.policy.v1": ("api", "policy/v1", "POLICY_V1"),
    "k8s.io.apimachinery.pkg.apis.meta.v1": ("apimachinery", "pkg/apis/meta/v1", "META_V1"),
    "k8s.io.apimachinery.pkg.runtime": ("apimachinery", "pkg/runtime", "RUNTIME"),
}

FIELD_RE = re.compile(r"^\s*(optional|repeated|required) ([.A-Za-z0-9_]+) ([A-Za-z0-9_]+) = ([0-9]+);$")
MAP_RE = re.compile(r"^\s*map<string, ([.A-Za-z0-9_]+)> ([A-Za-z0-9_]+) = ([0-9]+);$")


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True, text=True).stdout


def head(repo):
    return git(repo, "rev-parse", "HEAD").strip()


def parse_proto(text):
    """message name -> list of (label, type, name, number); label is optional/repeated/map."""
    messages, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^message (\w+) \{", line)
        if m:
            current = messages.setdefault(m.group(1), [])
            continue
        if line.startswith("}"):
            current = None
            continue
        if current is None:
            continue
        m = FIELD_RE.match(line)
        if m:
            label = "repeated" if m.group(1) == "repeated" else "optional"
            current.append((label, m.group(2), m.group(3), int(m.group(4))))
            continue
        m = MAP_RE.match(line)
        if m:
            current.append(("map", m.group(1), m.group(2), int(m.group(3))))
            continue
        if re.match(r"^\s*(optional|repeated|required|map|oneof|enum|message)\b", line):
            sys.exit(f"unparsed proto line: {line!r}")
    return messages


def parse_go(text):
    """struct name -> {field number -> dict(json, omitempty, pointer, inline)}."""
    structs, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^type (\w+) struct \{", line)
        if m:
            current = structs.setdefault(m.group(1), {})
            continue
        if line.startswith("}"):
            current = None
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("//") or "`" not in stripped:
            continue
        decl, tags = stripped.split("`", 1)
        pb = re.search(r'\bprotobuf:"[a-z0-9]+,([0-9]+),', tags)
        if not pb:
            continue
        js = re.search(r'\bjson:"([^"]*)"', tags)
        if not js:
            # Only the special types (metav1.Duration) lack one; they are never walked.
            continue
        parts = js.group(1).split(",")
        tokens = decl.split()
        gotype = tokens[-1]
        inline = parts[0] == "" and len(tokens) == 1
        current[int(pb.group(1))] = {
            "json": parts[0],
            "omitempty": "omitempty" in parts[1:],
            "pointer": gotype.startswith("*"),
            "inline": inline,
            "gotype": gotype,
        }
    return structs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--apimachinery", required=True)
    args = ap.parse_args()
    repos = {"api": args.api, "apimachinery": args.apimachinery}

    protos, gos = {}, {}
    for pkg, (repo, directory, _) in PACKAGES.items():
        protos[pkg] = parse_proto(git(repos[repo], "show", f"HEAD:{directory}/generated.proto"))
        files = git(repos[repo], "ls-tree", "--name-only", "HEAD", f"{directory}/").split()
        text = ""
        for f in files:
            if f.endswith(".go") and not f.endswith("_test.go") and "generated" not in f and "zz_" not in f:
                text += git(repos[repo], "show", f"HEAD:{f}") + "\n"
        gos[pkg] = parse_go(text)

    def split(full):
        pkg, _, name = full.rpartition(".")
        return pkg, name

    def resolve(pkg, typ):
        if typ.startswith("."):
            return typ[1:]
        if "." in typ:
            return typ
        return f"{pkg}.{typ}"

    def ident(full):
        pkg, name = split(full)
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).upper()
        return f"{PACKAGES[pkg][2]}_{snake}"

    def kind_of(pkg, typ, queue):
        if typ in SCALARS:
            return SCALARS[typ]
        if typ in ("double", "float", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64"):
            sys.exit(f"scalar type {typ} became reachable: add a Kind for it in schema.rs and decode.rs")
        full = resolve(pkg, typ)
        if full in SPECIAL:
            if SPECIAL[full] is None:
                sys.exit(f"{full} became reachable: add a Kind for it in schema.rs and decode.rs")
            return SPECIAL[full]
        if split(full)[0] not in PACKAGES:
            sys.exit(f"type from an unknown package: {full}")
        queue.append(full)
        return f"Kind::Message(&{ident(full)})"

    out, seen, queue = [], set(), list(ROOTS)
    while queue:
        full = queue.pop(0)
        if full in seen:
            continue
        seen.add(full)
        pkg, name = split(full)
        fields = protos[pkg].get(name)
        if fields is None:
            sys.exit(f"no proto message {full}")
        go = gos[pkg].get(name)
        if go is None:
            sys.exit(f"no Go struct {full}")
        rows = []
        for label, typ, pname, number in sorted(fields, key=lambda f: f[3]):
            info = go.get(number)
            if info is None:
                sys.exit(f"{full}.{pname} ({number}) has no Go field")
            if label == "map":
                kind = f"Kind::Map(&{kind_of(pkg, typ, queue)})"
            else:
                kind = kind_of(pkg, typ, queue)
            flags = []
            if label == "repeated":
                flags.append("REPEATED")
            if info["pointer"]:
                flags.append("POINTER")
            if info["omitempty"]:
                flags.append("OMITEMPTY")
            if info["inline"]:
                flags.append("INLINE")
            json_name = info["json"] if not info["inline"] else ""
            rows.append(f'        field({number}, "{json_name}", {kind}, {" | ".join(flags) or "0"}),')
        out.append(f'/// `{full}`\npub(crate) static {ident(full)}: Message = Message {{\n    name: "{full}",\n    fields: &[\n' + "\n".join(rows) + "\n    ],\n};\n")

    print("// @generated by crates/api/src/protobuf/tools/gen_schema.py: do not edit by hand.")
    print(f"// Sources: kubernetes/api {head(args.api)}, kubernetes/apimachinery {head(args.apimachinery)}.")
    print(f"// {len(seen)} messages reachable from the request-body kinds.")
    print()
    print("use super::schema::{field, Kind, Message, INLINE, OMITEMPTY, POINTER, REPEATED};")
    print()
    print("\n".join(out), end="")


if __name__ == "__main__":
    main()
