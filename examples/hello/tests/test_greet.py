import unittest

from hello import greet


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self) -> None:
        self.assertEqual(greet("lockgate"), "hello, lockgate")


if __name__ == "__main__":
    unittest.main()
