from framework.gradcheck.check import check_gradients, check_layer, check_loss
from framework.gradcheck.report import GradCheckReport, GradCheckRow

__all__ = ["GradCheckReport", "GradCheckRow", "check_gradients", "check_layer", "check_loss"]
