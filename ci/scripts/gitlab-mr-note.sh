#!/usr/bin/env bash
# Usage: gitlab-mr-note.sh COMMENT.md
# Posts COMMENT.md as a note on the merge request of this pipeline (GitLab's notes API), with the
# project access token in SWAN_GITLAB_TOKEN (scope `api`, role Reporter or more). Without the token
# (a fork's merge request) the comment is only left as the job's artifact.
set -euo pipefail
comment="${1:?usage: gitlab-mr-note.sh COMMENT.md}"
if [ -z "${SWAN_GITLAB_TOKEN:-}" ]; then
  echo "gitlab-mr-note: SWAN_GITLAB_TOKEN is not set; the comment is in the artifact $comment"
  exit 0
fi
curl --fail-with-body --silent --show-error --output /dev/null --request POST \
  --header "PRIVATE-TOKEN: $SWAN_GITLAB_TOKEN" \
  --data-urlencode "body@$comment" \
  "$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"
echo "gitlab-mr-note: posted $comment on !$CI_MERGE_REQUEST_IID"
