"""The course definition: what a course is, and where one comes from.

Owns the data model (:mod:`.definition`: ``Course``, ``CourseModel``), the training
recipe and its cache key (:mod:`.recipe`), what a design sweep is (:mod:`.sweep`),
reading a student's own code (:mod:`.student_code`: importing their file, the source a
``build=`` model is keyed on) and finding the course a command is given
(:mod:`.loading`: a student's file, or the built-in course).

Torch-free. May import :mod:`mnist_course.errors` and, lazily, the built-in course's
networks (:mod:`mnist_course.models`); nothing here trains, stores or renders.
"""
