-- Which server answered: its port (every throwaway server has its own).
SELECT inet_server_port()
