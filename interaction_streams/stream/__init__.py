"""The stream shell: Faust agents that decode, call the domain step, write tables, send outputs."""
