from interaction_streams.cli import main

main()
