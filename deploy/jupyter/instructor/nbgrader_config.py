# nbgrader configuration for instructors: the course directory is a clone of this repository in the
# instructor's home (mode 0700, so students cannot read solutions/ or the gradebook).
#   git clone <this repo> ~/attention-course
# solutions/ is nbgrader's source directory, notebooks/ the release directory (as in the repo's own
# nbgrader_config.py). Collected submissions land in ~/attention-course/submitted/.
import os

c = get_config()  # noqa: F821 (provided by traitlets)

c.CourseDirectory.root = os.environ.get("ATTN_COURSE_DIR", os.path.expanduser("~/attention-course"))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
