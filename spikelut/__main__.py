from .cli import run

if __name__ == "__main__":   # `python -m spikelut`; importing this module (the docs do) runs nothing
    run()
