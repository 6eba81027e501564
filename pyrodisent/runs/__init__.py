"""Runs: a spec (:mod:`.spec`), the one code path that carries it out (:mod:`.runner`), and the command
line every example and ``pyrodisent train`` share (:mod:`.command_line`, :mod:`.flags`)."""
