"""SNS notifications: one message per upload, readable as an email."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.adapters.aws import translated
from chalicelib.core.errors import NotifyError
from chalicelib.core.results import Notification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class Notifier:
    """Publishes :class:`Notification` messages to one topic."""

    def __init__(self, sns: SNSClient, topic_arn: str) -> None:
        self._sns = sns
        self.topic_arn = topic_arn

    def publish(self, notification: Notification) -> str:
        """Publish and return the SNS message id."""
        with translated(NotifyError, f"publishing to {self.topic_arn}"):
            response = self._sns.publish(
                TopicArn=self.topic_arn,
                Subject=notification.subject,
                Message=notification.body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in notification.attributes.items()
                },
            )
        return response["MessageId"]
