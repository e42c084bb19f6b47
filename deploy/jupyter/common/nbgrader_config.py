# nbgrader configuration shared by the whole class (students and instructors).
# Installed by deploy/setup.sh into $ATTN_CLASS_PREFIX/etc/jupyter/common; the hub puts that folder on
# every single-user server's JUPYTER_CONFIG_PATH (deploy/jupyterhub_config.py).
import os

c = get_config()  # noqa: F821 (provided by traitlets)

# One course on this hub; nbgrader writes it into the exchange paths.
c.CourseDirectory.course_id = "attention-course"

# nbgrader's folder exchange: a world-writable folder (mode 1777) on a filesystem every single-user
# server sees. The hub passes ATTN_EXCHANGE_ROOT (the test uses a private one).
c.Exchange.root = os.environ.get("ATTN_EXCHANGE_ROOT", "/srv/nbgrader/exchange")
