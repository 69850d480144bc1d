"""SNS notifications: one message per upload, readable as an email."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import NotifyError, aws_error_code
from chalicelib.results import Notification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class Notifier:
    """Publishes :class:`Notification` messages to one topic."""

    def __init__(self, sns: SNSClient, topic_arn: str) -> None:
        self._sns = sns
        self.topic_arn = topic_arn

    def publish(self, notification: Notification) -> str:
        """Publish and return the SNS message id."""
        try:
            response = self._sns.publish(
                TopicArn=self.topic_arn,
                Subject=notification.subject,
                Message=notification.body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in notification.attributes.items()
                },
            )
        except ClientError as exc:
            raise NotifyError(
                f"publishing to {self.topic_arn} failed ({aws_error_code(exc)})"
            ) from exc
        except BotoCoreError as exc:
            raise NotifyError(f"publishing to {self.topic_arn} failed: {exc}") from exc
        return response["MessageId"]
