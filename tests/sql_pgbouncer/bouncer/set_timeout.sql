-- Session state: a plain SET.
SET statement_timeout = '123s'
