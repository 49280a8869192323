"""The result of ``mobilenets.profile``: per-layer costs, totals, a breakdown by kind.

Kept apart from the counter so that the counting rules stay short enough to check by eye.
The report renders as a terminal table (rich), a dict, JSON and CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

KIND_FC = "fully connected"
KIND_SE = "squeeze-excite"
# Q·Kᵀ and attention·V of the V4 hybrids: products of two activations, not layers with weights.
# Kept out of ``total_mult_adds`` so that conv + linear totals compare with V1-V3 and the papers.
KIND_ATTENTION = "attention matmul"


@dataclass(frozen=True)
class LayerCost:
    """One costed layer.

    Args:
        name: qualified module name, e.g. 'blocks.3.dw.conv'.
        kind: 'standard KxK', 'depthwise KxK', 'pointwise 1x1', 'squeeze-excite',
            'fully connected', 'attention matmul', or an element-wise kind when those are counted.
        output_shape: the layer's output without the batch dimension, e.g. (64, 112, 112).
        mult_adds: multiply-accumulate operations for one image.
        params: the layer's own parameters (weight and bias).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    mult_adds: int
    params: int


@dataclass(frozen=True)
class KindShare:
    """The summed cost of every layer of one kind, and its share of the total in percent."""

    kind: str
    layers: int
    mult_adds: int
    params: int
    mult_adds_pct: float
    params_pct: float


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def _millions(count: int) -> str:
    return f"{count / 1e6:,.2f} M"


@dataclass(frozen=True)
class ProfileReport:
    """Exact costs of one model at one input size.

    Args:
        model: what was profiled (the model name, or a description of the module).
        input_size: (channels, height, width) of the single image the counts are for.
        layers: one row per costed layer, in the order the forward pass ran them.
        model_params: every parameter of the model, batch norm included (the papers' figure).
        convention: what is counted, in words.
    """

    model: str
    input_size: tuple[int, int, int]
    layers: tuple[LayerCost, ...]
    model_params: int
    convention: str

    @property
    def total_mult_adds(self) -> int:
        """Mult-Adds of every costed layer except the attention matmuls (``attention_mult_adds``)."""
        return sum(layer.mult_adds for layer in self.layers if layer.kind != KIND_ATTENTION)

    @property
    def attention_mult_adds(self) -> int:
        """Mult-Adds of the attention matrix products (Q·Kᵀ and attention·V); 0 without attention."""
        return sum(layer.mult_adds for layer in self.layers if layer.kind == KIND_ATTENTION)

    @property
    def total_params(self) -> int:
        """Parameters of the costed layers (batch norm excluded; see ``model_params``)."""
        return sum(layer.params for layer in self.layers)

    def by_kind(self) -> list[KindShare]:
        """Sum the rows of each kind; the largest share of Mult-Adds first.

        Returns:
            One ``KindShare`` per kind present. Percentages are of all the counted work (the
            attention matmuls included) and of ``total_params``.
        """
        mult_adds: dict[str, int] = defaultdict(int)
        params: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        for layer in self.layers:
            mult_adds[layer.kind] += layer.mult_adds
            params[layer.kind] += layer.params
            counts[layer.kind] += 1
        total_ma = (self.total_mult_adds + self.attention_mult_adds) or 1
        total_p = self.total_params or 1
        shares = [
            KindShare(kind, counts[kind], mult_adds[kind], params[kind],
                      100 * mult_adds[kind] / total_ma, 100 * params[kind] / total_p)
            for kind in counts
        ]  # fmt: skip
        return sorted(shares, key=lambda s: (-s.mult_adds, -s.params, s.kind))

    def share(self, kind: str) -> KindShare:
        """The ``KindShare`` of one kind; a ValueError names the kinds present if it is absent."""
        for item in self.by_kind():
            if item.kind == kind:
                return item
        present = [s.kind for s in self.by_kind()]
        raise ValueError(f"kind {kind!r} does not occur in {self.model}; its kinds are {present}")

    # -- renderings -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything in plain Python types (what ``to_json`` writes)."""
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "convention": self.convention,
            "totals": {
                "mult_adds": self.total_mult_adds,
                "attention_mult_adds": self.attention_mult_adds,
                "params": self.total_params,
                "model_params": self.model_params,
            },
            "by_kind": [vars(share) for share in self.by_kind()],
            "layers": [
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "output_shape": list(layer.output_shape),
                    "mult_adds": layer.mult_adds,
                    "params": layer.params,
                }
                for layer in self.layers
            ],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self, by_kind: bool = False) -> str:
        """CSV text with a header row: the layers, or the breakdown by kind.

        Args:
            by_kind: write one row per kind (with percentages) instead of one per layer.

        Returns:
            The CSV text.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if by_kind:
            writer.writerow(["kind", "layers", "mult_adds", "mult_adds_pct", "params", "params_pct"])
            for s in self.by_kind():
                writer.writerow(
                    [s.kind, s.layers, s.mult_adds, f"{s.mult_adds_pct:.4f}", s.params, f"{s.params_pct:.4f}"]
                )
        else:
            writer.writerow(["name", "kind", "output_shape", "mult_adds", "params"])
            for layer in self.layers:
                shape = _shape_text(layer.output_shape)
                writer.writerow([layer.name, layer.kind, shape, layer.mult_adds, layer.params])
        return buffer.getvalue()

    def _caption(self) -> str:
        if not self.attention_mult_adds:
            return self.convention
        return (
            f"{self.convention}; the total leaves out the {self.attention_mult_adds:,} Mult-Adds of "
            "attention matmuls, listed as their own kind"
        )

    def _title(self) -> str:
        channels, height, width = self.input_size
        return f"{self.model} at {height}x{width}x{channels}"

    def layers_table(self) -> Table:
        """A rich table with one row per layer and the totals as its footer."""
        from rich.table import Table  # rich loads only when a table is drawn

        table = Table(title=self._title(), caption=self._caption(), show_footer=True)
        table.add_column("layer", footer="total")
        table.add_column("kind")
        table.add_column("output", justify="right")
        table.add_column("Mult-Adds", justify="right", footer=f"{self.total_mult_adds:,}")
        table.add_column("params", justify="right", footer=f"{self.total_params:,}")
        for layer in self.layers:
            table.add_row(
                layer.name, layer.kind, _shape_text(layer.output_shape), f"{layer.mult_adds:,}",
                f"{layer.params:,}",
            )  # fmt: skip
        return table

    def kinds_table(self) -> Table:
        """A rich table with one row per kind: absolute figures and percentages."""
        from rich.table import Table

        table = Table(title=f"{self._title()}: cost by kind", caption=self._caption(), show_footer=True)
        attention_pct = (
            100 * self.attention_mult_adds / ((self.total_mult_adds + self.attention_mult_adds) or 1)
        )
        table.add_column("kind", footer="total")
        table.add_column("layers", justify="right", footer=str(len(self.layers)))
        table.add_column("Mult-Adds", justify="right", footer=f"{self.total_mult_adds:,}")
        table.add_column("%", justify="right", footer=f"{100 - attention_pct:.2f}")
        table.add_column("params", justify="right", footer=f"{self.total_params:,}")
        table.add_column("%", justify="right", footer="100.00")
        for s in self.by_kind():
            table.add_row(
                s.kind, str(s.layers), f"{s.mult_adds:,}", f"{s.mult_adds_pct:.2f}", f"{s.params:,}",
                f"{s.params_pct:.2f}",
            )  # fmt: skip
        return table

    def summary(self) -> str:
        """One line: the totals in millions."""
        attention = (
            f" (+ {_millions(self.attention_mult_adds)} in attention matmuls)"
            if self.attention_mult_adds
            else ""
        )
        return (
            f"{self._title()}: {_millions(self.total_mult_adds)} Mult-Adds{attention}, "
            f"{_millions(self.model_params)} parameters ({self.total_params:,} in costed layers)"
        )

    def render(self, by_kind: bool = False, width: int = 110) -> str:
        """The terminal table as plain text.

        Args:
            by_kind: render the breakdown by kind instead of the layers.
            width: characters per line.

        Returns:
            The table followed by the summary line.
        """
        from rich.console import Console

        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(self.kinds_table() if by_kind else self.layers_table())
        console.print(self.summary())
        output = console.file.getvalue()  # type: ignore[attr-defined]
        return str(output)

    def __str__(self) -> str:
        return self.summary()
