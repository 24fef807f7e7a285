"""Open a QGIS project in real QGIS (Debian python3-qgis, headless) and report on it.

``gis`` never imports QGIS: :func:`open_project` runs ``/usr/bin/python3`` (where Debian's QGIS
bindings live) with ``QT_QPA_PLATFORM=offscreen`` on a project file and returns what QGIS saw:
every layer's validity, feature count, renderer (with its legend entries), labels and source,
the groups, and a rendered PNG. Under CI (env ``CI`` set) a missing QGIS is a failure,
elsewhere a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"

_OPEN_PROJECT = r"""
import json, sys
from qgis.core import (QgsApplication, QgsProject, QgsMapSettings, QgsMapRendererSequentialJob,
                       QgsLayerTreeGroup, QgsLayerTreeLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False)
app.initQgis()
project_path, png = sys.argv[1], sys.argv[2]
proj = QgsProject.instance()
ok = proj.read(project_path)
out = {"read": ok, "title": proj.title(), "crs": proj.crs().authid(),
       "absolute": proj.readBoolEntry("Paths", "/Absolute", True)[0], "layers": [],
       "groups": {}}
root = proj.layerTreeRoot()
for g in root.children():
    if isinstance(g, QgsLayerTreeGroup):
        out["groups"][g.name()] = [c.name() for c in g.children()]
out["subgroups"] = {g.name(): [c.name() for c in g.children()]
                    for top in root.children() if isinstance(top, QgsLayerTreeGroup)
                    for g in top.children() if isinstance(g, QgsLayerTreeGroup)}
for node in root.findLayers():
    lyr = node.layer()
    rec = {"name": node.name(), "valid": bool(lyr and lyr.isValid()),
           "visible": node.isVisible()}
    if lyr is not None:
        rec.update(source=lyr.source(), features=lyr.featureCount(),
                   renderer=lyr.renderer().type() if lyr.renderer() else None,
                   labels=lyr.labelsEnabled(), crs=lyr.crs().authid(),
                   layername=lyr.source().split("layername=")[-1],
                   saved_source=proj.writePath(lyr.source()))
        r = lyr.renderer()
        if rec["renderer"] == "categorizedSymbol":
            rec["attr"] = r.classAttribute()
            rec["classes"] = [c.value() for c in r.categories()]
            rec["legend"] = [c.label() for c in r.categories()]
        elif rec["renderer"] == "graduatedSymbol":
            rec["attr"] = r.classAttribute()
            rec["classes"] = [[x.lowerValue(), x.upperValue()] for x in r.ranges()]
            rec["legend"] = [x.label() for x in r.ranges()]
        if lyr.labeling() is not None:  # set up (shown only when labels are enabled)
            rec["label_field"] = lyr.labeling().settings().fieldName
        rec["group_path"] = []
        parent = node.parent()
        while parent is not None and parent != root:
            rec["group_path"].insert(0, parent.name())
            parent = parent.parent()
    out["layers"].append(rec)
settings = QgsMapSettings()
settings.setLayers([n.layer() for n in root.findLayers() if n.isVisible()])
settings.setDestinationCrs(proj.crs())
settings.setBackgroundColor(QColor(255, 255, 255))
settings.setOutputSize(QSize(1000, 700))
settings.setExtent(proj.viewSettings().defaultViewExtent())
job = QgsMapRendererSequentialJob(settings)
job.start()
job.waitForFinished()
out["png"] = job.renderedImage().save(png, "png")
print("RESULT " + json.dumps(out))
app.exitQgis()
"""


def require_qgis() -> str:
    """/usr/bin/python3 when it can import qgis; fail under CI, skip elsewhere."""
    ok = Path(SYSTEM_PYTHON).exists() and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, check=False,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}).returncode == 0
    if ok:
        return SYSTEM_PYTHON
    msg = (f"{SYSTEM_PYTHON} cannot import qgis: install python3-qgis "
           "(.ci/system-packages.sh)")
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)



def open_project(project: Path, png: Path) -> dict:
    """Read ``project`` in QGIS, render its visible layers to ``png``; QGIS's report."""
    python = require_qgis()
    run = subprocess.run([python, "-c", _OPEN_PROJECT, str(project), str(png)],
                         capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"QGIS run failed (rc={run.returncode}):\n{run.stderr[-3000:]}"
    return json.loads(lines[-1][7:])
