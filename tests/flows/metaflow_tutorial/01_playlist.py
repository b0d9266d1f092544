# Metaflow tutorial, episode 01: Parameters, IncludeFile and a static branch.
# (The tutorial shuffles with `random`; this copy is deterministic, so runs compare.)
from metaflow import FlowSpec, IncludeFile, Parameter, step


def script_path(filename):
    import os

    return os.path.join(os.path.dirname(os.path.abspath(__file__)), filename)


class PlayListFlow(FlowSpec):
    """A flow to help you build your favorite movie playlist."""

    movie_data = IncludeFile(
        "movie_data", help="The path to a movie metadata file.", default=script_path("movies.csv")
    )
    genre = Parameter("genre", help="Filter movies for a particular genre.", default="Sci-Fi")
    recommendations = Parameter(
        "recommendations", help="The number of movies to recommend in the playlist.", default=5
    )

    @step
    def start(self):
        import csv
        from io import StringIO

        self.dataframe = {"movie_title": [], "title_year": [], "genres": [], "gross": []}
        for row in csv.DictReader(StringIO(self.movie_data)):
            for column in self.dataframe:
                self.dataframe[column].append(row[column])
        self.next(self.bonus_movie, self.genre_movies)

    @step
    def bonus_movie(self):
        movies = [
            (title, genres)
            for title, genres in zip(self.dataframe["movie_title"], self.dataframe["genres"])
            if self.genre.lower() not in genres.lower()
        ]
        self.bonus = sorted(movies)[0]
        self.next(self.join)

    @step
    def genre_movies(self):
        self.movies = sorted(
            title
            for title, genres in zip(self.dataframe["movie_title"], self.dataframe["genres"])
            if self.genre.lower() in genres.lower()
        )
        self.next(self.join)

    @step
    def join(self, inputs):
        self.playlist = inputs.genre_movies.movies[: self.recommendations]
        self.bonus = inputs.bonus_movie.bonus
        self.next(self.end)

    @step
    def end(self):
        print("Playlist for movies in genre '%s'" % self.genre)
        for pick, movie in enumerate(self.playlist, start=1):
            print("Pick %d: '%s'" % (pick, movie))
        print("Bonus Pick: '%s' from '%s'" % (self.bonus[0], self.bonus[1]))


if __name__ == "__main__":
    PlayListFlow()
