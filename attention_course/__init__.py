"""The attention-course launcher: `attention-course fetch [DIR]` and `attention-course lab [DIR]`.

The wheel carries the student notebooks, the learners' docs and the lab settings
under attention_course/course/ (copied there at build time by setup.py, from
notebooks/, docs/ and lab/); an editable install reads them from the repository.
"""
