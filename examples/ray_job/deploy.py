"""Deploy a pipeline from a Ray job.

    ray job submit --address http://HEAD:8265 --working-dir examples/ray_job \\
        --runtime-env-json '{"env_vars": {"JOEY_HOME": "/shared/joey"}}' \\
        -- python deploy.py model.onnx --pipeline fraud

The job's driver runs on the cluster and joins it (``JOEY_RAY_ADDRESS`` defaults to ``auto``
here: the cluster the job runs in). It uploads the model file shipped in the working
directory, builds a one-step pipeline and deploys it; the pipeline keeps running after the
job ends, answering on ``/infer/{workspace}/{pipeline}`` of Serve's HTTP entry. ``JOEY_HOME``
(or ``JOEY_DATABASE_URL`` and ``JOEY_ARTIFACTS_URI``) must name a store every node can read
and that you can reach afterwards (a shared volume, PostgreSQL, an s3:// bucket). The last
line printed is JSON naming the pipeline and its URL.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import joey
from joey.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="model file in the working directory (.onnx, .pt, .pkl, ...)")
    parser.add_argument("--pipeline", default="job-pipeline", help="pipeline name")
    parser.add_argument("--model-name", default=None, help="model name (default: the file's stem)")
    parser.add_argument("--workspace", default=None, help="workspace (default: the default workspace)")
    parser.add_argument("--replicas", type=int, default=1, help="replicas of the pipeline")
    args = parser.parse_args()

    settings = Settings()
    if not settings.ray_address:
        settings = settings.model_copy(update={"ray_address": "auto"})
    wl = joey.Client(settings=settings)
    if args.workspace:
        wl.set_current_workspace(wl.get_workspace(args.workspace, create_if_not_exist=True))
    model = wl.upload_model(args.model_name or args.model.stem.replace("_", "-"), args.model.resolve())
    config = joey.DeploymentConfigBuilder().replica_count(args.replicas).build()
    pipeline = wl.build_pipeline(args.pipeline).add_model_step(model).deploy(deployment_config=config)
    print(json.dumps({"pipeline": pipeline.name(), "status": pipeline.status()["status"],
                      "url": pipeline.url()}))


if __name__ == "__main__":
    main()
