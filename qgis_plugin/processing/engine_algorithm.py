"""Base class: a Processing algorithm that is one engine command.

A subclass declares its parameters (initAlgorithm), how to turn them into the engine's
argv (`engine_args`), optional extra checks before the engine starts (`validate`), and
which outputs to return (`collect_outputs`). Running, progress, cancel, turning engine
errors into QgsProcessingException and the human summary in the log live here, once. The
results dict holds only the declared outputs: it is what the Processing dialog prints after
the summary and what the modeler chains (the engine's whole result stays out of it).
"""

from __future__ import annotations

import re
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..engine_runner import EngineCancelled, EngineRunError, run_engine
from ..icon import icon_for
from ..kinds import kind_problem, param_kind
from ..summary import human_summary

# an engine command line in a hint: `python -m engine fit --out NAME`, (python -m engine
# fit), python -m engine.train ..., `map predict`
_ENGINE = r"python -m engine(?:\.train(?P<{t}>)|\s+(?P<{c}>map\s+\w+|[a-z][\w-]*))"
_CLI = re.compile("`" + _ENGINE.format(t="train", c="cmd") + "[^`]*`|"
                  + _ENGINE.format(t="train2", c="cmd2")
                  + r"(?:\s+(?:--?[\w-]+|[A-Z][\w.]*|[\w-]+\.[\w.]+))*|`map (?P<kind>\w+)`")


class EngineAlgorithm(QgsProcessingAlgorithm):
    """One engine subcommand as a Processing algorithm (subclass and fill in the blanks)."""

    COMMAND = ""  # the engine subcommand, e.g. "sample-city"
    NAME = ""  # the algorithm id inside the provider, e.g. "sample_city"
    DISPLAY_NAME = ""
    GROUP = "Data"
    GROUP_ID = "data"
    HELP = ""
    TIMEOUT_S: float | None = None  # None: no limit (training may take hours)
    HINT_LABELS: dict[str, str] = {}  # engine word or CLI flag -> the dialog's label

    # --- what a subclass provides -------------------------------------------------
    def engine_args(
        self, parameters: dict[str, Any], context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> list[str]:
        """The engine's arguments after the command name (without --events)."""
        raise NotImplementedError

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """Extra checks before the engine starts: an error message, or "" when fine."""
        return ""

    def collect_outputs(
        self, result: dict[str, Any], parameters: dict[str, Any],
        context: QgsProcessingContext, feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        """The algorithm's outputs from the engine's result dict (only declared outputs are
        returned; by default the engine's keys that name one, upper-cased)."""
        return {key.upper(): value for key, value in result.items()}

    # --- QgsProcessingAlgorithm plumbing ------------------------------------------
    def tr(self, text: str) -> str:
        return QCoreApplication.translate("GeoContrast", text)

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        return self.tr(self.GROUP)

    def groupId(self) -> str:
        return self.GROUP_ID

    def shortHelpString(self) -> str:
        return self.tr(self.HELP)

    def icon(self) -> QIcon:
        return icon_for(self.NAME)

    def createInstance(self) -> EngineAlgorithm:
        return type(self)()

    def checkParameterValues(
        self, parameters: dict[str, Any], context: QgsProcessingContext
    ) -> tuple[bool, str]:
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        problem = (self.kind_problems(parameters, context) or self.name_problem(parameters, context)
                   or self.validate(parameters, context))
        return (False, problem) if problem else (True, "")

    def name_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """An 'Output name' (maps) that is not a plain file name, as the engine refuses it."""
        if self.parameterDefinition("NAME") is None:
            return ""
        name = self.parameterAsString(parameters, "NAME", context).strip()
        bad = sorted(set(name) & set('/\\:*?"<>|'))
        if name.startswith(".") or bad:
            return (f"'Output name' {name!r} is not a plain file name"
                    + (f" (it contains {' '.join(bad)})" if bad else "")
                    + "; the folder goes in 'Output folder'.")
        return ""

    def kind_problems(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """The first layer given to a parameter that takes another GeoContrast kind."""
        for param in self.parameterDefinitions():
            wanted = param_kind(param)
            if wanted and parameters.get(param.name()):
                layer = self.parameterAsLayer(parameters, param.name(), context)
                problem = kind_problem(param.description(), layer, wanted)
                if problem:
                    return problem
        return ""

    def processAlgorithm(
        self, parameters: dict[str, Any], context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        problem = self.kind_problems(parameters, context) or self.validate(parameters, context)
        if problem:
            raise QgsProcessingException(problem)
        args = self.engine_args(parameters, context, feedback)
        try:
            result = run_engine(self.COMMAND, args, feedback, timeout_s=self.TIMEOUT_S)
        except EngineCancelled as exc:
            raise QgsProcessingException(f"GeoContrast: {exc.message}") from exc
        except EngineRunError as exc:
            text = f"GeoContrast engine: {exc.message}"
            if exc.hint:
                text += f"\nHint: {self.in_dialog_words(exc.hint)}"
            raise QgsProcessingException(text) from exc
        feedback.pushInfo(human_summary(self.displayName(), result))
        return self.declared(self.collect_outputs(result, parameters, context, feedback))

    def declared(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """Only the outputs this algorithm declares (its results dict, as the dialog prints it)."""
        names = {output.name() for output in self.outputDefinitions()}
        return {name: value for name, value in outputs.items() if name in names}

    def in_dialog_words(self, text: str) -> str:
        """The engine's hint in this dialog's words: an engine command line (`python -m
        engine fit --out NAME`, `map predict`) becomes the algorithm that runs it; a flag
        named as a parameter (--block-size: BLOCK_SIZE, --out: OUTPUT) takes that
        parameter's label; HINT_LABELS adds or overrides words."""
        text = _CLI.sub(lambda m: self._algorithm_words(m), text)
        labels = {}
        for param in self.parameterDefinitions():
            flag = "--" + param.name().lower().replace("_", "-")
            labels[flag] = f"'{param.description()}'"
            if param.name() == "OUTPUT":
                labels["--out"] = labels[flag]
        labels.update(self.HINT_LABELS)
        for word in sorted(labels, key=len, reverse=True):  # --block-size before --block
            text = re.sub(re.escape(word) + r"(?![\w-])", lambda _m, w=word: labels[w], text)
        return text

    def _algorithm_words(self, match: re.Match) -> str:
        """'<algorithm>' for an engine command line in a hint (left as it is when no
        algorithm runs that command)."""
        if match["train"] is not None or match["train2"] is not None:
            command = "train"
        else:
            command = " ".join((match["cmd"] or match["cmd2"] or f"map {match['kind']}").split())
        provider = self.provider()
        for alg in provider.algorithms() if provider is not None else ():
            kinds = getattr(alg, "KINDS", ())
            runs = {f"map {k}" for k in kinds} if kinds else {getattr(alg, "COMMAND", "")}
            if command in runs and alg.name() != "validate_layer":  # import-photos: import
                return f"'{alg.displayName()}'"
        return match[0]

    # --- helpers for subclasses ----------------------------------------------------
    def load_on_completion(self, context: QgsProcessingContext, uri: str, name: str,
                           output_name: str = "") -> None:
        """Add a file the engine wrote to the project when the algorithm finishes."""
        details = QgsProcessingContext.LayerDetails(name, context.project(), output_name)
        context.addLayerToLoadOnCompletion(uri, details)

    def retarget_output(self, context: QgsProcessingContext, path: str, layer_name: str) -> str:
        """`path|layername=...` for a GeoPackage destination holding several tables, so the
        layer QGIS loads on completion is the right one; returns that URI."""
        uri = f"{path}|layername={layer_name}" if layer_name else path
        layers = context.layersToLoadOnCompletion()
        if layer_name and path in layers:
            layers[uri] = layers.pop(path)
            context.setLayersToLoadOnCompletion(layers)
        return uri
