"""cvops: the Python client of the cvops platform (standard library only).

    from cvops import Client
    client = Client("http://127.0.0.1:8080", "cvops_...")   # or $CVOPS_SERVER / $CVOPS_TOKEN
    with client.run("my-project", params={"lr": 0.01, "epochs": 10}) as exp:
        for step in range(1000):
            exp.log_metric("loss", 1.0 / (step + 1), step)
        exp.upload_artifact("checkpoints/")
"""

from .client import Client, CvopsError, Project
from .evaluation import Evaluation
from .tracking import Experiment, flatten_params

__all__ = ["Client", "CvopsError", "Project", "Experiment", "Evaluation", "flatten_params"]
__version__ = "0.1.0"
