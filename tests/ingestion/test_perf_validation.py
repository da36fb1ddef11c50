"""SBOM validation at ingestion speed keeps the CycloneDX schemas' verdicts.

`validate_sbom` lets a compiled validator (jsonschema-rs) accept SBOMs on its own and has every rejection
confirmed by jsonschema. That is only sound if the compiled validator never accepts what the schemas reject.
These tests check it against cyclonedx-python-lib's own (jsonschema) validator, used here as the independent
oracle, on real SBOMs (hullscan's, Syft's for CycloneDX 1.4, 1.5 and 1.6, Trivy's) and on thousands of
seeded mutations of them: wrong types, missing and unknown fields, duplicates, bad enums, and the formats and
patterns of the schemas (date-time, iri-reference, idn-email, uri, hashes, serial numbers) with near misses.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from hullscan.ingestion import validation
from hullscan.ingestion.validation import InvalidSbom, validate_sbom
from hullscan.scanner import analyze, write_cyclonedx
from tests.conftest import image_layout

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is missing: install the test extra (pip install -e '.[test]')"
    return path


@lru_cache(maxsize=None)
def _oracle(spec: str) -> JsonStrictValidator:
    return JsonStrictValidator(SchemaVersion.from_version(spec))


def oracle_accepts(spec: str, doc: object) -> bool:
    """cyclonedx-python-lib's stock validator (jsonschema, with its format checker) on the document's JSON."""
    return _oracle(spec).validate_str(json.dumps(doc)) is None


def fast_accepts(spec: str, doc: object) -> bool:
    try:
        return bool(validation._fast_validator(spec).is_valid(doc))
    except Exception:  # noqa: BLE001 - a document it cannot take is not accepted by it
        return False


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, dict]:
    """Real SBOMs of the app image: hullscan's, Syft's (CycloneDX 1.4, 1.5, 1.6) and Trivy's."""
    image = image_layout("debian-python-app")
    out = tmp_path_factory.mktemp("sboms")
    subprocess.run(
        [_tool("syft"), "scan", f"oci-dir:{image}", "-q",
         "-o", f"cyclonedx-json@1.4={out / 'syft-1.4.json'}", "-o", f"cyclonedx-json@1.5={out / 'syft-1.5.json'}",
         "-o", f"cyclonedx-json@1.6={out / 'syft-1.6.json'}"],
        check=True, timeout=600,
    )
    subprocess.run(
        [_tool("trivy"), "image", "--cache-dir", str(out / "cache"), "--skip-db-update", "--offline-scan", "--quiet",
         "--input", str(image), "--format", "cyclonedx", "--output", str(out / "trivy.json")],
        check=True, timeout=600,
    )
    docs = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    inv = analyze(f"oci-dir:{image}")
    docs["hullscan"] = json.loads(write_cyclonedx(inv, registry_triggered=True))
    return docs


def test_real_sboms_get_the_oracles_verdict(corpus: dict[str, dict]) -> None:
    """Each tool's own SBOM is accepted under its spec; relabelled to every supported spec, any SBOM gets the
    oracle's verdict (trivy's CycloneDX 1.7 fields are not 1.4's, for instance)."""
    verdicts: Counter[bool] = Counter()
    for name, doc in corpus.items():
        if doc["specVersion"] in validation.SCHEMA_VERSIONS:
            assert oracle_accepts(doc["specVersion"], doc), name
            assert fast_accepts(doc["specVersion"], doc), name
            assert validation.schema_error(doc["specVersion"], doc) is None, name
        for spec in validation.SCHEMA_VERSIONS:
            relabelled = _small(dict(doc, specVersion=spec), components=8)
            want = oracle_accepts(spec, relabelled)
            assert (validation.schema_error(spec, relabelled) is None) == want, (name, spec)
            assert not fast_accepts(spec, relabelled) or want, (name, spec)
            verdicts[want] += 1
    assert verdicts[True] >= 4 and verdicts[False] >= 1, verdicts


# Values that sit on both sides of the schemas' formats and patterns.
DATES = ["2024-01-31T12:00:00Z", "2024-01-31T12:00:00+01:00", "2024-01-31T12:00:00.123456Z", "2024-01-31t12:00:00z",
         "2024-01-31T12:00:00", "2024-01-31 12:00:00Z", "2024-02-30T12:00:00Z", "2024-13-01T00:00:00Z",
         "2024-01-31T24:00:00Z", "2024-01-31T12:00:60Z", "2024-01-31", "2024-01-31T12:00:00Z\n", ""]
IRIS = ["https://example.com/a?b=c#d", "https://例え.jp/パス", "relative/path", "../up", "#frag", "", "mailto:a@b.c",
        "https://example.com/a b", "https://exa mple.com", "http://[::1]/x", "http://[::1/x", "%zz", "https://e.com/%zz",
        "https://example.com/\n", "urn:isbn:0451450523", ":no-scheme", "a:b:c", "\x7f", "https://e.com/<>"]
EMAILS = ["a@example.com", "no-at-sign", "@", "a@", "ü@例え.jp", "", "a b@c"]
HASHES = ["a" * 32, "A" * 40, "0" * 64, "f" * 96, "e" * 128, "a" * 31, "a" * 65, "g" * 64, "a" * 64 + "\n", " " + "a" * 64]
SERIALS = ["urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79", "urn:uuid:3E671687-395B-41F5-A30F-A58921A69B79",
           "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79\n", "uuid:3e671687-395b-41f5-a30f-a58921a69b79",
           "urn:uuid:3e671687395b41f5a30fa58921a69b79", ""]
LICENSE_IDS = ["MIT", "Apache-2.0", "mit", "GPL-2.0+", "LicenseRef-x", "MIT ", ""]
ALGORITHMS = ["RS256", "ES384", "Ed25519", "rs256", "https://example.com/alg", "not a uri", ""]
ODD = [None, True, False, 0, -1, 1.5, 1.0, 2**70, float("nan"), float("inf"), "", "x", "\ud800", "é" * 3, [], {},
       ["x"], {"x": 1}, "a\nb", " MIT", "library", "LIBRARY"]


def _grafts() -> list[tuple[str, object]]:
    """(where, what) additions covering the formats, patterns and referenced schemas the real SBOMs lack."""
    out: list[tuple[str, object]] = []
    out += [("metadata.timestamp", d) for d in DATES]
    out += [("serialNumber", s) for s in SERIALS]
    out += [("component.hashes", [{"alg": "SHA-256", "content": h}]) for h in HASHES]
    out += [("component.hashes", [{"alg": alg, "content": "a" * 64}]) for alg in ("SHA-256", "sha-256", "MD4")]
    out += [("component.externalReferences", [{"type": "website", "url": u}]) for u in IRIS]
    out += [("component.externalReferences", [{"type": t, "url": "https://e.com"}]) for t in ("vcs", "VCS", "nope")]
    out += [("component.supplier", {"name": "s", "contact": [{"email": e}]}) for e in EMAILS]
    out += [("component.supplier", {"name": "s", "url": [u]}) for u in IRIS[:8]]
    out += [("component.licenses", [{"license": {"id": i}}]) for i in LICENSE_IDS]
    out += [("component.licenses", [{"license": {"name": "x", "url": u}}]) for u in IRIS[:8]]
    out += [("component.licenses", [{"expression": e}]) for e in ("MIT OR Apache-2.0", "", 5)]
    out += [("component.licenses", [{"license": {"id": "MIT"}}, {"license": {"id": "MIT"}}])]  # uniqueItems
    out += [("component.licenses", [{"license": {"id": "MIT"}, "expression": "MIT"}])]  # oneOf
    out += [("signature", {"algorithm": a, "value": "c2ln"}) for a in ALGORITHMS]
    out += [("signature", {"algorithm": "RS256", "value": "c2ln", "keyId": "k",
                           "publicKey": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}})]
    out += [("signature", {"algorithm": "RS256", "value": "c2ln", "certificatePath": ["a", 1]})]
    out += [("signature", {"algorithm": "RS256"})]
    out += [("component.properties", [{"name": "n", "value": "v"}, {"name": "n", "value": "v"}])]
    out += [("component.bom-ref", ref) for ref in ("", "dup", 7)]
    out += [("version", v) for v in (0, 1, 1.0, 1.5, -1, "1", True, 2**70)]
    return out


def _paths(node: object, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


def _at(doc: object, path: tuple) -> object:
    for part in path:
        doc = doc[part]  # type: ignore[index]
    return doc


def _mutate(doc: dict, rng: random.Random) -> dict:
    """One seeded random change somewhere in the document."""
    doc = copy.deepcopy(doc)
    path = rng.choice([p for p in _paths(doc) if p])
    parent, key = _at(doc, path[:-1]), path[-1]
    value = parent[key]  # type: ignore[index]
    op = rng.randrange(8)
    if op == 0:  # another type or an odd value
        parent[key] = rng.choice(ODD)  # type: ignore[index]
    elif op == 1:  # a field or an item less
        del parent[key]  # type: ignore[arg-type]
    elif op == 2 and isinstance(parent, dict):  # a field the schema does not know
        parent[rng.choice(["x-unknown", "Name", "bom_ref", key.upper()])] = value
    elif op == 3 and isinstance(parent, list):  # a duplicate item
        parent.append(copy.deepcopy(value))
    elif op == 4 and isinstance(value, str):  # near misses of a string
        parent[key] = rng.choice([value + "\n", " " + value, value.upper(), value[:-1], value + "\x00",
                                  value.replace("-", "_"), value * 2, ""])  # type: ignore[index]
    elif op == 5 and isinstance(value, str):  # a value of a format elsewhere
        parent[key] = rng.choice(DATES + IRIS + EMAILS + HASHES + SERIALS)  # type: ignore[index]
    elif op == 6 and isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[key] = rng.choice([-value, value + 0.5, str(value), bool(value), 2**64])  # type: ignore[index]
    else:  # an empty container where there was something
        parent[key] = rng.choice([[], {}, [value], {"value": value}])  # type: ignore[index]
    return doc


def _graft(doc: dict, where: str, what: object) -> dict:
    doc = copy.deepcopy(doc)
    if where.startswith("component."):
        doc["components"][0][where.split(".", 1)[1]] = what
    elif where.startswith("metadata."):
        doc.setdefault("metadata", {})[where.split(".", 1)[1]] = what
    else:
        doc[where] = what
    return doc


def _small(doc: dict, components: int = 3) -> dict:
    """The document with a few components and at most one external reference each: the oracle is slow (its
    iri-reference check parses with an Earley parser), and the schema is the same for every component."""
    small = copy.deepcopy(doc)
    small["components"] = small.get("components", [])[:components]
    for c in small["components"]:
        if c.get("externalReferences"):
            c["externalReferences"] = c["externalReferences"][:1]
    refs = {c.get("bom-ref") for c in small["components"]}
    small["dependencies"] = [d for d in small.get("dependencies", []) if d.get("ref") in refs][:2]
    return small


@pytest.mark.parametrize("spec", validation.SCHEMA_VERSIONS)
def test_mutated_sboms_are_never_accepted_where_the_schema_rejects(corpus: dict[str, dict], spec: str) -> None:
    rng = random.Random(f"hullscan-{spec}")
    bases = [_small(dict(corpus[name], specVersion=spec)) for name in sorted(corpus)]
    valid = [b for b in bases if oracle_accepts(spec, b)]
    assert valid, "a real SBOM should be valid under this spec"
    cases = [(f"graft {where}={what!r}", _graft(valid[0], where, what)) for where, what in _grafts()]
    for base in bases:
        cases += [(f"mutation {n} of {base['metadata'].get('tools')!r:.60}", _mutate(base, rng)) for n in range(40)]
    outcome: Counter[str] = Counter()
    for label, doc in cases:
        want = oracle_accepts(spec, doc)
        fast = fast_accepts(spec, doc)
        assert want or not fast, f"compiled validator accepted what the {spec} schema rejects: {label}"
        got = validation.schema_error(spec, doc)
        assert (got is None) == want, f"{label}: validate says {got!r}, the schema says {want}"
        outcome["accepted" if want else ("rejected" if not fast else "?")] += 1
        if not want:
            assert got and got.startswith(f"SBOM does not validate against the CycloneDX {spec} schema at ")
        elif not fast:
            outcome["stricter, overruled by the reference"] += 1
    # Both sides well represented: the mutations do reach the schema's rules, and valid variants survive.
    assert outcome["accepted"] >= len(cases) // 10 and outcome["rejected"] >= len(cases) // 5, outcome


def test_fast_validator_runs_offline_on_the_bundled_schemas() -> None:
    """Every $ref resolves in the bundled registry: building needs no network, and an unknown $ref fails."""
    import jsonschema_rs

    for spec in validation.SCHEMA_VERSIONS:
        assert validation._fast_validator(spec).is_valid(
            {"bomFormat": "CycloneDX", "specVersion": spec, "version": 1, "components": []})
    with pytest.raises((jsonschema_rs.ReferencingError, jsonschema_rs.ValidationError), match="Retrieval is disabled"):
        jsonschema_rs.Draft7Validator({"$ref": "http://cyclonedx.org/schema/missing.schema.json"}, offline=True)


def test_rejection_message_and_fallback(tmp_path: Path, corpus: dict[str, dict]) -> None:
    """A rejected SBOM fails with the reference's message naming the path, also when the compiled validator
    cannot take the document at all (a lone surrogate where a pattern applies); where the schema has no rule
    against such a string, both accept."""
    doc = _small(corpus["hullscan"])
    spec = doc["specVersion"]
    doc["components"][1]["hashes"] = [{"alg": "SHA-256", "content": "xyz"}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidSbom, match=r"schema at components/1/hashes/0/content: 'xyz' does not match"):
        validate_sbom(path)
    doc["components"][1]["hashes"] = [{"alg": "SHA-256", "content": "\ud800" * 64}]
    with pytest.raises(UnicodeEncodeError):
        validation._fast_validator(spec).is_valid(doc)
    path.write_text(json.dumps(doc))  # escaped as \ud800: valid JSON, a str Rust cannot hold
    with pytest.raises(InvalidSbom, match=r"schema at components/1/hashes/0/content: "):
        validate_sbom(path)
    doc["components"][1]["hashes"] = [{"alg": "SHA-256", "content": "a" * 64}]
    doc["components"][1]["description"] = "\ud800 lone surrogate"
    path.write_text(json.dumps(doc))
    assert fast_accepts(spec, doc) and oracle_accepts(spec, doc)
    props = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert validate_sbom(path).image_name == props["gitlab:container_scanning_for_registry:image:name"]


def _iri_samples(rng: random.Random, count: int) -> set[str]:
    """IRI-ish strings: the real SBOMs' URLs, near misses of them, random strings over the grammar's
    characters, and IPv6 literals of every shape (the grammar's most intricate rule)."""
    pieces = list("aZ09-._~!$&'()*+,;=:@/?#%[]v ") + ["\u00e9", "\ue000", "\ud800", "\U0001f642", "::", "//", "%4f",
                                                    "%g1", "1.2.3.4", "255.255.255.255", "256.0.0.1", "http:"]
    out: set[str] = set()
    while len(out) < count // 2:
        out.add("".join(rng.choice(pieces) for _ in range(rng.randrange(0, 10))))
    while len(out) < count:
        groups = ["".join(rng.choice("0123456789abcdef") for _ in range(rng.randrange(1, 6)))
                  for _ in range(rng.randrange(0, 9))]
        cut = rng.randrange(0, len(groups) + 1)
        literal = ":".join(groups[:cut]) + rng.choice(["::", ":", ""]) + ":".join(groups[cut:])
        if rng.random() < 0.3:
            literal += rng.choice([":1.2.3.4", "1.2.3.4", ":", ":256.1.1.1"])
        out.add(f"http://[{literal}]/")
    return out


def test_iri_reference_expression_is_the_grammar(corpus: dict[str, dict]) -> None:
    """The regular expression that answers iri-reference checks accepts exactly what rfc3987_syntax (the
    checker jsonschema uses) accepts, on real URLs and on generated near misses."""
    from rfc3987_syntax import is_valid_syntax

    rng = random.Random(3987)
    urls = {r["url"] for doc in corpus.values() for c in doc.get("components", [])
            for r in c.get("externalReferences", [])}
    samples = set(sorted(urls)[:60]) | _iri_samples(rng, 200)
    samples |= {u[: rng.randrange(len(u) + 1)] + rng.choice([" ", "%", "[", "]", "\ue000", ""]) for u in sorted(urls)[:60]}
    verdicts: Counter[bool] = Counter()
    for value in sorted(samples):
        want = is_valid_syntax("iri_reference", value)
        assert (validation.IRI_REFERENCE.fullmatch(value) is not None) == want, repr(value)
        verdicts[want] += 1
    assert verdicts[True] >= 60 and verdicts[False] >= 60, verdicts
    checker = validation._fast_validator  # the compiled validator uses it for iri-reference, with jsonschema's
    assert checker("1.6").is_valid({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [
        {"type": "library", "name": "x", "externalReferences": [{"type": "website", "url": "https://e.com/a"}]}]})
    assert not checker("1.6").is_valid({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [
        {"type": "library", "name": "x", "externalReferences": [{"type": "website", "url": "https://e.com/a b"}]}]})
