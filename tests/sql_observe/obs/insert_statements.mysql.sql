-- How many INSERT statements this connection has run (a multi-row INSERT is one).
SHOW SESSION STATUS LIKE 'Com_insert'
