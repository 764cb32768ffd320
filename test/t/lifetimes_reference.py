"""Independent reference for the lifetimes-style summary, written the way the
lifetimes library computes summary_data_from_transaction_data with pandas.

stdin: CSV rows customer_id,day(YYYY-MM-DD),amount.  argv: as_of, granularity
(day|week), unit length in days.  stdout: customer_id,frequency,recency,T,monetary_value
for customers with at least one purchase (amount >= 0) on or before as_of.
Refunds (amount < 0) are not purchases.
"""
import sys

import pandas as pd

as_of = pd.Timestamp(sys.argv[1])
granularity = sys.argv[2]
unit_days = float(sys.argv[3])

df = pd.read_csv(sys.stdin, header=None, names=["customer_id", "day", "amount"], parse_dates=["day"])
df = df[(df.amount >= 0) & (df.day <= as_of)].copy()

if granularity == "week":
    # Monday-based weeks, each represented by its Monday.
    df["period"] = df.day - pd.to_timedelta(df.day.dt.weekday, unit="D")
    as_of_period = as_of - pd.Timedelta(days=as_of.weekday())
else:
    df["period"] = df.day
    as_of_period = as_of

per_period = df.groupby(["customer_id", "period"], as_index=False).amount.sum()
grouped = per_period.groupby("customer_id")
first = grouped.period.min()
last = grouped.period.max()
frequency = grouped.size() - 1
recency = (last - first).dt.days / unit_days
T = (as_of_period - first).dt.days / unit_days
per_period["first"] = per_period.customer_id.map(first)
repeat = per_period[per_period.period != per_period["first"]]
monetary = repeat.groupby("customer_id").amount.mean().reindex(first.index).fillna(0.0)

out = pd.DataFrame({"frequency": frequency, "recency": recency, "T": T, "monetary_value": monetary})
out.to_csv(sys.stdout, header=False, float_format="%.12f")
