GRANT SELECT ON repl_notes TO rr_plain
