//! Docker Engine API types shared by berthd and berth
