# Metaflow tutorial, episodes 04-05: the client API in a notebook-style script. Prints
# what it read as JSON (the tests compare Shipyard's answers with Metaflow's).
import json

from metaflow import Flow, Metaflow, Run, Step, Task, default_namespace, get_namespace, namespace

answers = {}

run = Flow("PlayListFlow").latest_successful_run
answers["namespace"] = get_namespace()
answers["latest_run_id_is_number"] = run.id.isdigit()
answers["run_pathspec_is_flow_and_id"] = run.pathspec == "PlayListFlow/" + run.id
answers["playlist"] = run.data.playlist
answers["bonus"] = list(run.data.bonus)
answers["genre"] = run.data.genre
answers["recommendations"] = run.data.recommendations
answers["steps"] = [s.id for s in run]
answers["successful"] = run.successful
answers["finished"] = run.finished
answers["finished_after_created"] = run.finished_at >= run.created_at
answers["parent"] = run.parent.id
answers["end_data_playlist"] = run["end"].task.data.playlist
answers["end_task_is_end"] = run.end_task.pathspec == run["end"].task.pathspec
answers["end_task_parent"] = run.end_task.parent.id
answers["end_task_successful"] = run.end_task.successful
answers["exception"] = run.end_task.exception
artifacts = {a.id: a.data for a in run["join"].task.artifacts if not a.id.startswith("_")}
answers["join_artifacts"] = sorted(k for k in artifacts if k != "name")
answers["artifact_attribute"] = run["join"].task.artifacts.playlist.data
answers["movie_data_lines"] = len(run["start"].task.data.movie_data.splitlines())
answers["same_run_by_pathspec"] = Run(run.pathspec).data.playlist == run.data.playlist
answers["step_by_pathspec"] = Step(run.pathspec + "/join").id
task = run["genre_movies"].task
answers["task_by_pathspec"] = Task(task.pathspec).data.movies == task.data.movies
answers["runs_listed"] = len(list(Flow("PlayListFlow")))

hello = Flow("HelloFlow").latest_run
answers["hello_steps"] = [s.id for s in hello]
answers["hello_stdout"] = hello["hello"].task.stdout
answers["hello_greeting"] = hello.data.greeting
answers["run_id_seen_by_steps"] = hello.data.seen_run_id == hello.id
answers["pathspec_seen_by_steps"] = hello.data.seen_pathspec == hello["hello"].task.pathspec

flaky = Flow("FlakyFlow").latest_run
answers["flaky_successful"] = flaky.successful
answers["flaky_start_tasks"] = [t.successful for t in flaky["start"]]
answers["flaky_attempt_seen"] = flaky["start"].task.data.attempt
answers["flaky_risky_successful"] = flaky["risky"].task.successful
answers["flaky_risky_finished"] = flaky["risky"].task.finished
answers["flaky_risky_exception"] = flaky["risky"].task.exception
answers["flaky_caught"] = flaky.data.caught
answers["flaky_steps"] = [s.id for s in flaky]

projected = Flow("ProjectFlow").latest_run
answers["project_current"] = projected.data.project
answers["project_production"] = projected.data.production
answers["project_who"] = projected.data.who
answers["project_parameters"] = projected.data.param_names
answers["project_tags"] = sorted(t for t in projected.system_tags if t.startswith("project"))

stats = Flow("MovieStatsFlow").latest_run
answers["stats_steps"] = [s.id for s in stats]
answers["foreach_tasks"] = len(list(stats["compute_statistics"]))
answers["genres_computed"] = sorted(t.data.genre for t in stats["compute_statistics"])
answers["foreach_indices"] = sorted(t.index for t in stats["compute_statistics"])
answers["genre_stats"] = stats.data.genre_stats

plus = Flow("PlayListPlusFlow").latest_run
answers["plus_read_stats"] = plus.data.stats_run == stats.pathspec
answers["plus_top"] = plus.data.top

namespace("user:someone-else")
try:
    answers["other_user_sees"] = [r.id for r in Flow("PlayListFlow")]
except Exception:  # Metaflow: MetaflowNamespaceMismatch; Shipyard: NotFound
    answers["other_user_sees"] = "not in namespace"
namespace("project:tutorial")
answers["project_namespace_sees"] = [f.id for f in Metaflow()]
namespace(None)
answers["global_sees_all"] = len(list(Flow("PlayListFlow"))) == answers["runs_listed"]
answers["flows"] = sorted(f.id for f in Metaflow())
default_namespace()
answers["back_to_default"] = get_namespace() == answers["namespace"]

print("ANSWERS " + json.dumps(answers, sort_keys=True, default=str))
