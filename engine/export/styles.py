"""QGIS styles as QML text: graduated and categorised vector renderers, pseudocolor and
paletted rasters (`write_qml` puts one beside its raster).

The QML is what QGIS 3.22 reads from a GeoPackage's `layer_styles` table or a `.qml`
sidecar. Colour ramps are sampled from matplotlib colormaps by name ("viridis", "RdYlBu",
append "_r" to reverse).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import EngineError

GEOMETRIES = {"point": ("marker", 0), "line": ("line", 1), "polygon": ("fill", 2)}
MODES = ("quantile", "equal")
_HEADER = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"


def ramp_colors(ramp: str, n: int) -> list[tuple[int, int, int]]:
    """`n` RGB colours evenly sampled from a matplotlib colormap."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[ramp]
    except KeyError:
        raise EngineError(f"unknown colour ramp {ramp!r}",
                          "use a matplotlib colormap name such as viridis, magma, RdYlBu") from None
    pos = [0.5] if n == 1 else np.linspace(0.0, 1.0, n)
    return [tuple(int(round(255 * c)) for c in cmap(float(p))[:3]) for p in pos]


def _rgba(c: tuple[int, int, int], a: int = 255) -> str:
    return f"{c[0]},{c[1]},{c[2]},{a}"


def _hex(c: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def _symbol(parent: ET.Element, name: str, geometry: str, color: tuple[int, int, int],
            size: float) -> None:
    kind, _ = GEOMETRIES[geometry]
    sym = ET.SubElement(parent, "symbol", type=kind, name=name, alpha="1",
                        clip_to_extent="1", force_rhr="0")
    if geometry == "point":
        cls, props = "SimpleMarker", {"name": "circle", "color": _rgba(color),
                                      "outline_color": "35,35,35,255", "outline_width": "0.2",
                                      "outline_style": "solid", "size": f"{size:g}",
                                      "size_unit": "MM", "angle": "0"}
    elif geometry == "line":
        cls, props = "SimpleLine", {"line_color": _rgba(color), "line_width": f"{size:g}",
                                    "line_style": "solid", "line_width_unit": "MM"}
    else:
        cls, props = "SimpleFill", {"color": _rgba(color), "style": "solid",
                                    "outline_color": "35,35,35,255", "outline_style": "solid",
                                    "outline_width": f"{size:g}", "outline_width_unit": "MM"}
    layer = ET.SubElement(sym, "layer", attrib={"class": cls, "pass": "0", "locked": "0",
                                                "enabled": "1"})
    opt = ET.SubElement(layer, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(opt, "Option", name=k, value=v, type="QString")
    for k, v in props.items():  # the older form, read by every QGIS 3.x
        ET.SubElement(layer, "prop", k=k, v=v)


def _colorramp(parent: ET.Element, ramp: str) -> None:
    cols = ramp_colors(ramp, 9)
    cr = ET.SubElement(parent, "colorramp", type="gradient", name="[source]")
    opt = ET.SubElement(cr, "Option", type="Map")
    stops = ":".join(f"{i / 8:g};{_rgba(c)}" for i, c in enumerate(cols[1:-1], start=1))
    for k, v in (("color1", _rgba(cols[0])), ("color2", _rgba(cols[-1])),
                 ("discrete", "0"), ("rampType", "gradient"), ("stops", stops)):
        ET.SubElement(opt, "Option", name=k, value=v, type="QString")


def _document(renderer: ET.Element, geometry: str) -> str:
    root = ET.Element("qgis", version="3.22.0", styleCategories="Symbology")
    root.append(renderer)
    ET.SubElement(root, "layerGeometryType").text = str(GEOMETRIES[geometry][1])
    ET.indent(root)
    return _HEADER + ET.tostring(root, encoding="unicode") + "\n"


def _check_geometry(geometry: str) -> None:
    if geometry not in GEOMETRIES:
        raise EngineError(f"unknown geometry kind {geometry!r}",
                          f"use one of {', '.join(GEOMETRIES)}")


@dataclass
class GraduatedStyle:
    """Classes [breaks[i], breaks[i+1]] of `attribute`, coloured along `ramp`."""

    attribute: str
    breaks: list[float]
    ramp: str = "viridis"
    geometry: str = "point"
    mode: str = "quantile"
    precision: int = 3
    size: float = 2.4
    name: str = "GeoContrast graduated"

    def pairs(self) -> list[tuple[float, float]]:
        """(lower, upper) of each class."""
        return list(zip(self.breaks[:-1], self.breaks[1:], strict=True))

    def labels(self) -> list[str]:
        p = self.precision
        return [f"{lo:.{p}f} - {hi:.{p}f}" for lo, hi in self.pairs()]

    def to_qml(self) -> str:
        """QML with a graduatedSymbol renderer (one range and symbol per class)."""
        _check_geometry(self.geometry)
        n = len(self.breaks) - 1
        cols = ramp_colors(self.ramp, n)
        r = ET.Element("renderer-v2", type="graduatedSymbol", attr=self.attribute,
                       graduatedMethod="GraduatedColor", symbollevels="0", enableorderby="0",
                       forceraster="0")
        ranges = ET.SubElement(r, "ranges")
        for i, ((lo, hi), label) in enumerate(zip(self.pairs(), self.labels(), strict=True)):
            ET.SubElement(ranges, "range", render="true", symbol=str(i), lower=f"{lo:.17g}",
                          upper=f"{hi:.17g}", label=label)
        syms = ET.SubElement(r, "symbols")
        for i, c in enumerate(cols):
            _symbol(syms, str(i), self.geometry, c, self.size)
        src = ET.SubElement(r, "source-symbol")
        _symbol(src, "0", self.geometry, cols[0], self.size)
        _colorramp(r, self.ramp)
        cm = ET.SubElement(r, "classificationMethod",
                           id="Quantile" if self.mode == "quantile" else "EqualInterval")
        ET.SubElement(cm, "symmetricMode", enabled="0", symmetrypoint="0", astride="0")
        ET.SubElement(cm, "labelFormat", format="%1 - %2", trimtrailingzeroes="0",
                      labelprecision=str(self.precision))
        ET.SubElement(ET.SubElement(cm, "parameters"), "Option")
        ET.SubElement(cm, "extraInformation")
        ET.SubElement(r, "rotation")
        ET.SubElement(r, "sizescale")
        return _document(r, self.geometry)


@dataclass
class CategorizedStyle:
    """One colour per distinct value of `attribute`."""

    attribute: str
    categories: list = field(default_factory=list)
    ramp: str = "tab10"
    geometry: str = "point"
    size: float = 2.4
    name: str = "GeoContrast categorized"

    def to_qml(self) -> str:
        """QML with a categorizedSymbol renderer."""
        _check_geometry(self.geometry)
        cols = ramp_colors(self.ramp, max(len(self.categories), 1))
        r = ET.Element("renderer-v2", type="categorizedSymbol", attr=self.attribute,
                       symbollevels="0", enableorderby="0", forceraster="0")
        cats = ET.SubElement(r, "categories")
        for i, v in enumerate(self.categories):
            ET.SubElement(cats, "category", render="true", symbol=str(i), value=str(v),
                          label=str(v))
        syms = ET.SubElement(r, "symbols")
        for i in range(len(self.categories)):
            _symbol(syms, str(i), self.geometry, cols[i], self.size)
        src = ET.SubElement(r, "source-symbol")
        _symbol(src, "0", self.geometry, cols[0], self.size)
        ET.SubElement(r, "rotation")
        ET.SubElement(r, "sizescale")
        return _document(r, self.geometry)


Style = GraduatedStyle | CategorizedStyle


def class_breaks(values: np.ndarray, n_classes: int = 5, mode: str = "quantile") -> list[float]:
    """Class edges (n+1, increasing, duplicates dropped) over the finite values."""
    if mode not in MODES:
        raise EngineError(f"unknown classification mode {mode!r}", f"use one of {MODES}")
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        raise EngineError("no finite values to classify", "check the attribute column")
    q = np.linspace(0.0, 1.0, int(n_classes) + 1)
    edges = np.quantile(v, q) if mode == "quantile" else v.min() + q * (v.max() - v.min())
    edges = np.unique(edges)
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    return [float(e) for e in edges]


def graduated_style(values: np.ndarray, attribute: str, n_classes: int = 5,
                    mode: str = "quantile", ramp: str = "viridis", geometry: str = "point",
                    precision: int = 3) -> GraduatedStyle:
    """A graduated style for `attribute` with quantile or equal-interval classes."""
    _check_geometry(geometry)
    ramp_colors(ramp, 1)
    return GraduatedStyle(attribute, class_breaks(values, n_classes, mode), ramp, geometry,
                          mode, precision)


def categorized_style(values: np.ndarray, attribute: str, ramp: str = "tab10",
                      geometry: str = "point") -> CategorizedStyle:
    """A categorised style with one class per distinct value (sorted)."""
    _check_geometry(geometry)
    cats = sorted({v.item() if isinstance(v, np.generic) else v for v in values
                   if v is not None and v == v})
    return CategorizedStyle(attribute, cats, ramp, geometry)


def _raster_renderer(kind: str, band: int, **attrs: str) -> tuple[ET.Element, ET.Element,
                                                                   ET.Element]:
    """(document root, pipe, rasterrenderer) of a raster style QML."""
    root = ET.Element("qgis", version="3.22.0", styleCategories="AllStyleCategories")
    pipe = ET.SubElement(root, "pipe")
    rr = ET.SubElement(pipe, "rasterrenderer", type=kind, band=str(band), opacity="1",
                       alphaBand="-1", nodataColor="", **attrs)
    ET.SubElement(rr, "rasterTransparency")
    mmo = ET.SubElement(rr, "minMaxOrigin")
    for k, v in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Estimated"),
                 ("cumulativeCutLower", "0.02"), ("cumulativeCutUpper", "0.98"),
                 ("stdDevFactor", "2")):
        ET.SubElement(mmo, k).text = v
    return root, pipe, rr


def raster_pseudocolor_qml(vmin: float, vmax: float, ramp: str = "viridis", band: int = 1,
                           n_stops: int = 9) -> str:
    """QML for a singleband pseudocolor raster (interpolated ramp from vmin to vmax)."""
    cols = ramp_colors(ramp, n_stops)
    root, pipe, rr = _raster_renderer("singlebandpseudocolor", band,
                                      classificationMin=f"{vmin:.17g}",
                                      classificationMax=f"{vmax:.17g}")
    shader = ET.SubElement(ET.SubElement(rr, "rastershader"), "colorrampshader",
                           colorRampType="INTERPOLATED", classificationMode="1", clip="0",
                           minimumValue=f"{vmin:.17g}", maximumValue=f"{vmax:.17g}",
                           labelPrecision="4")
    _colorramp(shader, ramp)
    for i, c in enumerate(cols):
        v = vmin + (vmax - vmin) * i / (n_stops - 1)
        ET.SubElement(shader, "item", alpha="255", value=f"{v:.17g}", label=f"{v:.4g}",
                      color=_hex(c))
    return _raster_document(root, pipe)


def raster_paletted_qml(classes: list[str], ramp: str = "tab10", band: int = 1) -> str:
    """QML for a paletted (unique values) raster: value i drawn as class `classes[i]`."""
    root, pipe, rr = _raster_renderer("paletted", band)
    palette = ET.SubElement(rr, "colorPalette")
    for i, (name, c) in enumerate(zip(classes, ramp_colors(ramp, len(classes)), strict=True)):
        ET.SubElement(palette, "paletteEntry", value=str(i), label=str(name), alpha="255",
                      color=_hex(c))
    return _raster_document(root, pipe)


def _raster_document(root: ET.Element, pipe: ET.Element) -> str:
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0",
                  colorizeOn="0", colorizeRed="255", colorizeGreen="128", colorizeBlue="128",
                  colorizeStrength="100")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root)
    return _HEADER + ET.tostring(root, encoding="unicode") + "\n"


def write_qml(raster: str | os.PathLike[str], qml: str) -> Path:
    """Write `qml` as `<name>.qml` beside a raster (atomically): QGIS's default style for it."""
    from engine.export.atomic import atomic_path

    path = Path(raster).with_suffix(".qml")
    with atomic_path(path) as tmp:
        tmp.write_text(qml, encoding="utf-8")
    return path
