# nbgrader configuration for instructors: the course directory is a clone of this repository in the
# instructor's home (mode 0700, so students cannot read solutions/ or the gradebook).
#   git clone <this repo> ~/attention-course
# solutions/ is nbgrader's source directory, notebooks/ the release directory (as in the repo's own
# nbgrader_config.py). Collected submissions land in ~/attention-course/submitted/.
import os

c = get_config()  # noqa: F821 (provided by traitlets)

ROOT = os.environ.get("ATTN_COURSE_DIR", os.path.expanduser("~/attention-course"))
# The course's own nbgrader_config.py (stubs, timeouts, ignored files), so that the formgrader's
# "Generate" makes the same release as `make release`.
if os.path.isfile(os.path.join(ROOT, "nbgrader_config.py")):
    load_subconfig(os.path.join(ROOT, "nbgrader_config.py"))  # noqa: F821 (provided by traitlets)
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
