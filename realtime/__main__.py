"""`python -m realtime` and the `realtime` command."""


def run() -> None:
    try:
        from realtime.cli import main
    except KeyboardInterrupt:  # Ctrl-C while the command was still loading: nothing was begun
        raise SystemExit(130) from None
    main()


if __name__ == "__main__":
    run()
