"""The two emulators side by side (issue 17): each AWS service reaches the emulator that serves it,
both name one account, and where the emulators differ from AWS or from each other on something the
code relies on, the test says which (the README's list of differences is this file's)."""

from __future__ import annotations

import pytest

from testbed.harness import ACCOUNT, LOCALSTACK_SERVICES, Emulator
from testbed.seed import Estate


@pytest.fixture
def split(estate: Estate, emulator: Emulator) -> Estate:
    if emulator.localstack is None:
        pytest.skip("LocalStack is not running (EMULATORS=moto or an external AWS_ENDPOINT_URL): "
                    "there is no split to check")
    return estate


def direct(service: str, endpoint: str) -> object:
    """A client of `service` at `endpoint`, whatever the routing says."""
    return Estate(endpoint).client(service)


def test_each_service_reaches_the_emulator_that_serves_it(split: Estate, emulator: Emulator) -> None:
    assert emulator.localstack is not None
    split.ssm_parameter("/split/where", "localstack")
    split.client("servicediscovery").create_http_namespace(Name="split.local")
    localstack, moto = emulator.localstack.endpoint, emulator.endpoint
    assert direct("ssm", localstack).get_parameter(Name="/split/where")["Parameter"]["Value"] == "localstack"
    assert direct("ssm", moto).describe_parameters()["Parameters"] == [], "nothing of SSM reached moto"
    names = [n["Name"] for n in direct("servicediscovery", moto).list_namespaces()["Namespaces"]]
    assert names == ["split.local"], "Cloud Map stays on moto, beside ECS"
    assert set(emulator.env) >= {f"AWS_ENDPOINT_URL_{s.env_suffix}" for s in LOCALSTACK_SERVICES.values()}
    assert emulator.env["AWS_ENDPOINT_URL"] == moto


def test_both_emulators_name_one_account(split: Estate, emulator: Emulator) -> None:
    """LocalStack takes a 12-digit access key as the account (any other key is 000000000000);
    moto's account is 123456789012 whatever the key. The test bed's key makes them agree, so an
    IAM role made in LocalStack and a task definition in moto name the same account."""
    assert split.client("sts").get_caller_identity()["Account"] == ACCOUNT
    role = split.client("iam").create_role(RoleName="split-role", AssumeRolePolicyDocument="{}")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/split-role"
    cluster = split.ecs.create_cluster(clusterName="split")["cluster"]
    assert cluster["clusterArn"].split(":")[4] == ACCOUNT


def test_a_standard_parameter_over_4_kb_is_accepted_by_both_emulators_but_not_by_aws(split: Estate,
                                                                                     emulator: Emulator) -> None:
    """AWS refuses a Standard-tier value over 4 KB (ValidationException); both emulators store it.
    So no apply here can show a wrong tier: the modules' rule (Advanced above 4,096 bytes) is what
    guards it, and test_terraform's plan checks that rule."""
    big = "x" * 6000
    for endpoint in (emulator.localstack.endpoint, emulator.endpoint):  # type: ignore[union-attr]
        ssm = direct("ssm", endpoint)
        ssm.put_parameter(Name="/split/big", Value=big, Type="String", Tier="Standard", Overwrite=True)
        [stored] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/split/big"]}])["Parameters"]
        assert stored["Tier"] == "Standard" and len(ssm.get_parameter(Name="/split/big")["Parameter"]["Value"]) == 6000, \
            endpoint


def test_a_secure_string_read_without_decryption_is_the_plaintext_behind_a_prefix(split: Estate,
                                                                                   emulator: Emulator) -> None:
    """AWS answers GetParameter on a SecureString without WithDecryption with the ciphertext; both
    emulators answer `kms:alias/aws/ssm:<plaintext>`. The reloader always asks for decryption;
    test_reloader's SecureString test would see the prefix in the file if it didn't."""
    for endpoint in (emulator.localstack.endpoint, emulator.endpoint):  # type: ignore[union-attr]
        ssm = direct("ssm", endpoint)
        ssm.put_parameter(Name="/split/secret", Value="hunter2", Type="SecureString", Overwrite=True)
        assert ssm.get_parameter(Name="/split/secret")["Parameter"]["Value"] == "kms:alias/aws/ssm:hunter2", endpoint
        assert ssm.get_parameter(Name="/split/secret", WithDecryption=True)["Parameter"]["Value"] == "hunter2"


def test_kms_keys_and_s3_encryption_with_kms_work_on_localstack(split: Estate) -> None:
    """LocalStack 4.13.1 on Python 3.11 fails every KMS CreateKey (it needs 3.12's uuid5); the
    test bed starts it through emulator/localstack_py311.py, which gives it that behaviour."""
    key = split.client("kms").create_key(Description="split")["KeyMetadata"]
    assert key["KeyState"] == "Enabled"
    s3 = split.client("s3")
    s3.create_bucket(Bucket="split-encrypted")
    s3.put_object(Bucket="split-encrypted", Key="a", Body=b"x", ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=key["Arn"])
    assert s3.get_object(Bucket="split-encrypted", Key="a")["Body"].read() == b"x"
