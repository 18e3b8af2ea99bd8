"""Serialising the XML formats: one way to build elements and write them with a declaration."""

import xml.etree.ElementTree as ET


def element(parent: ET.Element | None, tag: str, text: object = None, **attributes: object) -> ET.Element:
    """A child of `parent` (or a root), attributes and text as strings; None-valued attributes left out."""
    attrib = {
        key.rstrip("_").replace("__", ":"): str(value)
        for key, value in attributes.items()
        if value is not None
    }
    node = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if text is not None:
        node.text = str(text)
    return node


def properties(parent: ET.Element, **values: object) -> None:
    """MLT's <property name="…">value</property> children; `a__b` names become `a:b`."""
    for name, value in values.items():
        element(parent, "property", value, name=name.replace("__", ":"))


def document(root: ET.Element, doctype: str | None = None) -> str:
    ET.indent(root, space="  ")
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' + (f"<!DOCTYPE {doctype}>\n" if doctype else "")
    return head + ET.tostring(root, encoding="unicode") + "\n"
