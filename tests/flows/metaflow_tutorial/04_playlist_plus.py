# Metaflow tutorial, episode 04: a flow that reads another flow's results with the client.
from metaflow import Flow, FlowSpec, Parameter, get_metadata, step


class PlayListPlusFlow(FlowSpec):
    """The best movies of a genre, from MovieStatsFlow's latest successful run."""

    genre = Parameter("genre", help="Filter movies for a particular genre.", default="Sci-Fi")

    @step
    def start(self):
        print("Using metadata provider: %s" % get_metadata())
        run = Flow("MovieStatsFlow").latest_successful_run
        print("Using analysis from '%s'" % str(run))
        self.stats_run = run.pathspec
        self.genre_stats = run.data.genre_stats
        self.next(self.end)

    @step
    def end(self):
        self.top = self.genre_stats.get(self.genre)
        print("%s: %s" % (self.genre, self.top))


if __name__ == "__main__":
    PlayListPlusFlow()
