"""Shared fixtures: the devices to test on (CPU always, CUDA where present)."""
import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):  # make test's first part: two workers on two cores, one torch thread each
    torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(scope="session")
def course_install(tmp_path_factory):
    """The course as a learner installs it without a clone, made once per session (tests/wheel_venv.py)."""
    import wheel_venv  # tests/wheel_venv.py
    return wheel_venv.build_and_install(tmp_path_factory.mktemp("course-install"))
