"""pyqtgraph builds a PlotItem's 'Plot Options' menu as a parentless QMenu that outlives the plot (the
GUI tests fail on leaked top-level widgets). Our plots have no context menu, so `plot_widget_kw` turns
the ViewBox menu off and `drop_plot_menu` deletes the options menu right after construction."""

from __future__ import annotations

import pyqtgraph as pg
import shiboken6


def drop_plot_menu(plot: pg.PlotWidget) -> None:
    item = plot.getPlotItem()
    menu, item.ctrlMenu = item.ctrlMenu, None  # PlotItem.close() treats None as "already shut down"
    if menu is not None:
        shiboken6.delete(menu)
