# Metaflow tutorial, episode 02: a foreach over the genres and a join.
# (The tutorial uses pandas; this copy uses the standard library.)
from metaflow import FlowSpec, IncludeFile, step


def script_path(filename):
    import os

    return os.path.join(os.path.dirname(os.path.abspath(__file__)), filename)


class MovieStatsFlow(FlowSpec):
    """A flow to generate some statistics about the movie genres."""

    movie_data = IncludeFile(
        "movie_data", help="The path to a movie metadata file.", default=script_path("movies.csv")
    )

    @step
    def start(self):
        import csv
        from io import StringIO

        self.movies = list(csv.DictReader(StringIO(self.movie_data)))
        self.genres = sorted({g for movie in self.movies for g in movie["genres"].split("|")})
        self.next(self.compute_statistics, foreach="genres")

    @step
    def compute_statistics(self):
        import statistics

        self.genre = self.input
        print("Computing statistics for %s" % self.genre)
        gross = [float(m["gross"]) for m in self.movies if self.genre in m["genres"].split("|")]
        self.median = statistics.median(gross)
        self.count = len(gross)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.genre_stats = {inp.genre: {"median": inp.median, "count": inp.count} for inp in inputs}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MovieStatsFlow()
