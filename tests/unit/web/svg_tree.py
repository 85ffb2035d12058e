"""Reading the console's SVG back as XML, for tests: parsing, finding by class, coordinates."""

from __future__ import annotations

import xml.etree.ElementTree as ET

SVG_NS = "http://www.w3.org/2000/svg"
FORBIDDEN_ELEMENTS = {"style", "script", "foreignObject", "iframe", "image", "use", "a"}


def parse(markup: str) -> ET.Element:
    """The root <svg>; raises ParseError unless the markup is well-formed XML."""
    # Our own output, not outside input: the stdlib parser is the strict check wanted here.
    return ET.fromstring(markup)  # noqa: S314


def local(element: ET.Element) -> str:
    """An element's tag without its namespace."""
    return element.tag.rsplit("}", 1)[-1]


def elements(root: ET.Element, tag: str) -> list[ET.Element]:
    return [element for element in root.iter() if local(element) == tag]


def with_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [element for element in root.iter() if name in element.get("class", "").split()]


def point_pairs(element: ET.Element) -> list[tuple[float, float]]:
    """The ``points`` attribute of a polygon or polyline as (x, y) pairs."""
    pairs = []
    for pair in element.get("points", "").split():
        x, y = pair.split(",")
        pairs.append((float(x), float(y)))
    return pairs


def view_box(root: ET.Element) -> tuple[float, float, float, float]:
    min_x, min_y, width, height = (float(part) for part in root.get("viewBox", "").split())
    return min_x, min_y, width, height


def title_of(element: ET.Element) -> str:
    """The text of an element's own <title> child."""
    titles = [child for child in element if local(child) == "title"]
    assert len(titles) == 1, f"expected one <title> in <{local(element)}>"
    return titles[0].text or ""


def all_text(root: ET.Element) -> str:
    return "".join(root.itertext())


def assert_csp_safe(root: ET.Element) -> None:
    """Nothing a strict Content-Security-Policy would block or that could run or fetch."""
    for element in root.iter():
        name = local(element)
        assert name not in FORBIDDEN_ELEMENTS, f"<{name}> in the SVG"
        assert element.tag.startswith("{" + SVG_NS + "}"), f"{element.tag} outside SVG"
        for attribute, value in element.attrib.items():
            assert attribute != "style", f"style= on <{name}>"
            assert not attribute.lower().startswith("on"), f"{attribute}= on <{name}>"
            assert "href" not in attribute, f"{attribute}= on <{name}>"
            # Paint may only reference the document's own patterns.
            if "url(" in value:
                assert value.startswith("url(#"), f"{attribute}={value!r} on <{name}>"
